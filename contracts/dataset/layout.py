"""On-disk names of a DATASET dir, spelled once, and its fingerprint.

A DATASET dir comes in one of two layouts, which the reader tells apart by their files and reads alike:

- ``imagefolder``: ``{split}/metadata.parquet`` (``file_name`` + the 17 columns) with the JPEGs beside it;
  ``datasets.load_dataset("imagefolder", data_dir=DIR)`` loads it.
- ``parquet``: the hub's own layout for image data at scale, ``data/{split}-00000-of-00042.parquet``, each
  file holding the 17 columns and the image bytes in an ``image`` column of the ``datasets`` Image type;
  ``datasets.load_dataset(DIR)`` (also with ``streaming=True``) loads it and ``push_to_hub`` takes it as is.

Both carry the card (README.md, whose YAML ``configs`` point at the data files) and ``dataset_info.json``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from contracts.outputs import OutputKind, written_by

SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FRACTIONS: tuple[float, ...] = (0.8, 0.1, 0.1)
# Parquet, not JSONL: imagefolder infers types from JSON and turns competence_date ("2023-11-17") into a
# timestamp; parquet carries the schema's exact dtypes (the folder builder reads it since datasets 4).
METADATA_FILE = "metadata.parquet"
CARD_FILE = "README.md"
PROFILE_FILE = "profile.json"  # synth only: the CatalogueProfile the rows were drawn from
# Synth only: per product, the latent attributes it was drawn from, one JSONL file per block of rows
# (``latents_file``); datasets written before the blocks hold one ``latents.jsonl`` instead.
LATENTS_DIR = "latents"
LATENTS_FILE = "latents.jsonl"
# In each latents record: what the generator knows the answer to be from the latent attributes alone
# ({"title", "category3_code", "full_price"}): the oracle baseline, the ceiling an image model can reach.
ORACLE_KEY = "oracle"
FAILURES_FILE = "failures.jsonl"  # real only: rows left out, with the reason
EXTRA_COLUMNS_FILE = "extra_columns.jsonl"  # real only: columns outside the schema, kept aside
INFO_FILE = "dataset_info.json"  # machine-readable twin of the card: generator, version, seed, args, counts
# dataset_info.json's "generator" in a DATASET dir of ours (`study run` writes samples and mixes of others)
GENERATORS = ("datagen synth", "datagen real", "study")
IMAGE_EXT = ".jpg"

IMAGEFOLDER = "imagefolder"
PARQUET = "parquet"
FORMATS: tuple[str, ...] = (IMAGEFOLDER, PARQUET)
DATA_DIR = "data"  # parquet layout: the data files
IMAGE_COLUMN = "image"  # parquet layout: {"bytes": JPEG bytes, "path": file name}, the `datasets` Image type
# Sharded synth runs (`--shard I/N`) before `datagen synth-merge`: one manifest per job
# (``shard_manifest``), plus, in the imagefolder layout, the job's metadata rows (``shard_part``).
SHARDS_DIR = "shards"

_DATA_NAME = re.compile(r"(?P<split>[a-z]+)-(?P<index>\d{5,})-of-(?P<count>\d{5,})\.parquet")

# What a DATASET dir holds: `--overwrite` replaces such a dir only, and only when it holds nothing else.
DATASET_KIND = OutputKind(
    what="DATASET dir",
    marker=INFO_FILE,
    entries=(
        CARD_FILE,
        INFO_FILE,
        PROFILE_FILE,
        LATENTS_FILE,
        LATENTS_DIR,
        FAILURES_FILE,
        EXTRA_COLUMNS_FILE,
        DATA_DIR,
        SHARDS_DIR,
        *SPLITS,
    ),
    inside={
        **{split: (METADATA_FILE, f"*{IMAGE_EXT}") for split in SPLITS},
        DATA_DIR: ("*-of-*.parquet",),
        LATENTS_DIR: ("latents-*-of-*.jsonl",),
        SHARDS_DIR: ("shard-*", ".shard-*.lock"),
    },
    recognise=written_by(*GENERATORS),
)


def image_name(product_code: int) -> str:
    """File name of a product's image: derived from the code, never from data text."""
    return f"{int(product_code)}{IMAGE_EXT}"


def data_file(split: str, index: int, count: int) -> str:
    """Path, relative to the dataset dir, of data file ``index`` (0-based) of ``count`` of ``split``."""
    return f"{DATA_DIR}/{split}-{index:05d}-of-{count:05d}.parquet"


def parse_data_file(name: str) -> tuple[str, int, int] | None:
    """``train-00003-of-00042.parquet`` -> ("train", 3, 42); None for any other name."""
    match = _DATA_NAME.fullmatch(name)
    if not match or match["split"] not in SPLITS:
        return None
    return match["split"], int(match["index"]), int(match["count"])


def latents_file(index: int, count: int) -> str:
    """Path, relative to the dataset dir, of latents file ``index`` (0-based) of ``count``."""
    return f"{LATENTS_DIR}/latents-{index:05d}-of-{count:05d}.jsonl"


def shard_manifest(index: int, count: int) -> str:
    """Path, relative to the dataset dir, of the manifest job ``index`` (1-based) of ``count`` writes last."""
    return f"{SHARDS_DIR}/shard-{index:05d}-of-{count:05d}.json"


def shard_part(index: int, count: int, split: str) -> str:
    """Imagefolder layout: the metadata rows job ``index`` of ``count`` wrote for ``split``."""
    return f"{SHARDS_DIR}/shard-{index:05d}-of-{count:05d}/{split}.parquet"


def dataset_format(data_dir: str | Path) -> str | None:
    """``IMAGEFOLDER`` or ``PARQUET`` by the files ``data_dir`` holds; None when it holds neither."""
    root = Path(data_dir)
    if any((root / split / METADATA_FILE).is_file() for split in SPLITS):
        return IMAGEFOLDER
    data = root / DATA_DIR
    if data.is_dir() and any(parse_data_file(p.name) for p in data.iterdir()):
        return PARQUET
    return None


def data_files(data_dir: str | Path) -> dict[str, list[Path]]:
    """Parquet layout: the data files of each split present, in their order (by index)."""
    root = Path(data_dir) / DATA_DIR
    found: dict[str, list[tuple[int, Path]]] = {}
    if root.is_dir():
        for path in root.iterdir():
            parsed = parse_data_file(path.name)
            if parsed:
                found.setdefault(parsed[0], []).append((parsed[1], path))
    return {s: [p for _, p in sorted(found[s])] for s in SPLITS if s in found}


def _footer(path: Path) -> bytes:
    """A parquet file's footer (schema, row groups, column statistics): identifies its content cheaply."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size < 12:
            return b""
        fh.seek(size - 8)
        length = int.from_bytes(fh.read(4), "little")
        fh.seek(max(0, size - 8 - length))
        return fh.read()


def dataset_fingerprint(data_dir: str | Path) -> str:
    """sha256 identifying a dataset's content: over the info file and, per split, the imagefolder metadata
    file, or the parquet data files' names, sizes and footers (reading gigabytes of images would take
    minutes; the writer's sha256 of every data file is in the info file)."""
    root = Path(data_dir)
    digest = hashlib.sha256()
    for split in SPLITS:
        meta = root / split / METADATA_FILE
        if meta.exists():
            digest.update(split.encode())
            digest.update(meta.read_bytes())
    for split, paths in data_files(root).items():
        for path in paths:
            digest.update(f"{split}/{path.name}/{path.stat().st_size}".encode())
            digest.update(_footer(path))
    info = root / INFO_FILE
    if info.exists():
        digest.update(info.read_bytes())
    return digest.hexdigest()
