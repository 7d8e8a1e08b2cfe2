"""The DATASET dir, the one format every command reads or writes: the 17 DBQ columns (``schema``), the
on-disk names and fingerprint (``layout``), the atomic writer (``writer``), the reader every consumer uses
(``reader``) and the one split function (``split``).

A DATASET dir loads as is with ``datasets.load_dataset("imagefolder", data_dir=DIR)``.
"""
