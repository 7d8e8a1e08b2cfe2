"""Studies: comparisons over data and recipes in one command, above datagen, finetune and evaluation.

A study file (``spec``) names a fixed test set, the training sets, the recipes, the seeds and the systems
scored beside them; ``run`` expands the grid into cells (training set x recipe x seed), makes the datasets
(``datasets``), runs each cell's fine-tune and evaluation in a process of its own (``cell``), and ``report``
gathers the finished cells into means over seeds, learning curves and paired verdicts (``aggregate``).

    study run studies/rows.yaml --out out/study [--jobs 2] [--cell I/N]
    study report out/study
"""

from __future__ import annotations

__version__ = "0.1.0"
