"""On-disk names of a DATASET dir, spelled once, and its fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from contracts.outputs import OutputKind, written_by

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FRACTIONS: tuple[float, ...] = (0.8, 0.1, 0.1)
# Parquet, not JSONL: imagefolder infers types from JSON and turns competence_date ("2023-11-17") into a
# timestamp; parquet carries the schema's exact dtypes (the folder builder reads it since datasets 4).
METADATA_FILE = "metadata.parquet"
CARD_FILE = "README.md"
PROFILE_FILE = "profile.json"  # synth only: the CatalogueProfile the rows were drawn from
LATENTS_FILE = "latents.jsonl"  # synth only: product_code -> latent attributes, outside the split dirs
# In each latents.jsonl record: what the generator knows the answer to be from the latent attributes alone
# ({"title", "category3_code", "full_price"}): the oracle baseline, the ceiling an image model can reach.
ORACLE_KEY = "oracle"
FAILURES_FILE = "failures.jsonl"  # real only: rows left out, with the reason
EXTRA_COLUMNS_FILE = "extra_columns.jsonl"  # real only: columns outside the schema, kept aside
INFO_FILE = "dataset_info.json"  # machine-readable twin of the card: generator, version, seed, args, counts
# dataset_info.json's "generator" in a DATASET dir of ours (`study run` writes samples and mixes of others)
GENERATORS = ("datagen synth", "datagen real", "study")
IMAGE_EXT = ".jpg"

# What a DATASET dir holds: `--overwrite` replaces such a dir only, and only when it holds nothing else.
DATASET_KIND = OutputKind(
    what="DATASET dir",
    marker=INFO_FILE,
    entries=(CARD_FILE, INFO_FILE, PROFILE_FILE, LATENTS_FILE, FAILURES_FILE, EXTRA_COLUMNS_FILE, *SPLITS),
    inside={split: (METADATA_FILE, f"*{IMAGE_EXT}") for split in SPLITS},
    recognise=written_by(*GENERATORS),
)


def image_name(product_code: int) -> str:
    """File name of a product's image: derived from the code, never from data text."""
    return f"{int(product_code)}{IMAGE_EXT}"


def dataset_fingerprint(data_dir: str | Path) -> str:
    """sha256 over the split metadata files and the info file: identifies a dataset's content."""
    root = Path(data_dir)
    digest = hashlib.sha256()
    for split in SPLITS:
        meta = root / split / METADATA_FILE
        if meta.exists():
            digest.update(split.encode())
            digest.update(meta.read_bytes())
    info = root / INFO_FILE
    if info.exists():
        digest.update(info.read_bytes())
    return digest.hexdigest()
