"""Read a DATASET dir: the only way evaluation and fine-tuning get at data.

Every problem a user can cause (no such dir, a missing split, a missing or mistyped column, an unreadable
image, a ``file_name`` that points outside its split folder) raises ``UserError`` naming it and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.errors import UserError

IMAGE_PATH = "image_path"  # the extra column read_split adds: absolute path of the row's image

_MAKE_ONE = "run `datagen synth --out {dir}` (or `datagen real --out {dir}`) first"


def _dataset_dir(data_dir: str | Path) -> Path:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"no such dataset dir: {root} ({_MAKE_ONE.format(dir=root)})")
    return root.absolute()


def available_splits(data_dir: str | Path) -> list[str]:
    """The splits of ``layout.SPLITS`` that have a metadata file in ``data_dir``, in canonical order."""
    root = _dataset_dir(data_dir)
    return [s for s in layout.SPLITS if (root / s / layout.METADATA_FILE).is_file()]


def _read_jsonl(path: Path, what: str) -> list[dict]:
    records = []
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(
                        f"{path}:{lineno}: not valid JSON ({exc.msg}): "
                        f"rewrite the {what} or regenerate the dataset"
                    ) from None
                if not isinstance(record, dict):
                    raise UserError(f"{path}:{lineno}: expected a JSON object: regenerate the dataset")
                records.append(record)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return records


def _read_metadata(path: Path) -> pd.DataFrame:
    """The metadata parquet file as a frame of file_name + the 17 columns, dtypes checked."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"cannot read {path} ({exc}): regenerate the dataset") from None
    missing = [c for c in (FILE_NAME, *COLUMN_NAMES) if c not in table.column_names]
    if missing:
        raise UserError(
            f"{path} lacks column(s) {', '.join(missing)}: "
            "the metadata needs file_name plus the 17 DBQ columns; regenerate the dataset"
        )
    for name, dtype in {FILE_NAME: "string", **COLUMNS}.items():
        arrow_type = table.schema.field(name).type
        ok = {
            "string": pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type),
            "int64": pa.types.is_integer(arrow_type),
            "float64": pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type),
        }[dtype]
        if not ok:
            raise UserError(
                f"{path}: column {name!r} should be {dtype}, got {arrow_type}: "
                "fix the column or regenerate the dataset"
            )
        if table.column(name).null_count:
            raise UserError(
                f"{path}: column {name!r} has missing values: fill them or regenerate the dataset"
            )
    frame = table.select([FILE_NAME, *COLUMN_NAMES]).to_pandas()
    return frame.astype({FILE_NAME: "string", **COLUMNS})


def _image_path(split_dir: Path, file_name: str, meta: Path, lineno: int) -> str:
    if not file_name:
        raise UserError(f"{meta}: row {lineno} has no usable file_name: regenerate the dataset")
    path = (split_dir / file_name).resolve()
    if path.parent != split_dir.resolve():
        raise UserError(
            f"{meta}: row {lineno} file_name {file_name!r} points outside {split_dir}: "
            "images must sit beside their metadata file"
        )
    if not path.is_file():
        raise UserError(
            f"{meta}: row {lineno} image {file_name!r} is missing from {split_dir}: regenerate the dataset"
        )
    return str(path)


def read_split(data_dir: str | Path, split: str) -> pd.DataFrame:
    """One split as a DataFrame: ``file_name``, the 17 columns with schema dtypes, and ``image_path``.

    Raises:
        UserError: the dir or split is missing, or its metadata breaks the schema.
    """
    root = _dataset_dir(data_dir)
    if split not in layout.SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(layout.SPLITS)}")
    meta = root / split / layout.METADATA_FILE
    if not meta.is_file():
        present = ", ".join(available_splits(root)) or "none"
        raise UserError(
            f"dataset {root} has no {split!r} split (no {split}/{layout.METADATA_FILE}; "
            f"splits present: {present}): "
            f"choose another split or {_MAKE_ONE.format(dir=root)}"
        )
    frame = _read_metadata(meta)
    split_dir = root / split
    paths = [_image_path(split_dir, name, meta, i) for i, name in enumerate(frame[FILE_NAME].tolist(), 1)]
    frame[IMAGE_PATH] = pd.array(paths, dtype="string")
    return frame


def read_dataset(data_dir: str | Path, splits: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """Every requested split (default: all present) as ``{split: DataFrame}``; see ``read_split``."""
    root = _dataset_dir(data_dir)
    names = list(splits) if splits is not None else available_splits(root)
    if not names:
        raise UserError(
            f"{root} holds no split folder with a {layout.METADATA_FILE}: it is not a DATASET dir; "
            f"{_MAKE_ONE.format(dir=root)}"
        )
    return {s: read_split(root, s) for s in names}


def read_info(data_dir: str | Path) -> dict:
    """The dataset's ``dataset_info.json`` (generator, version, seed, args, counts)."""
    root = _dataset_dir(data_dir)
    path = root / layout.INFO_FILE
    if not path.is_file():
        raise UserError(f"{root} has no {layout.INFO_FILE}: it was not written by datagen; regenerate it")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}; regenerate the dataset") from None
    if not isinstance(info, dict):
        raise UserError(f"{path} should hold a JSON object: regenerate the dataset")
    return info


def read_latents(data_dir: str | Path) -> pd.DataFrame | None:
    """The synthetic rows' latent attributes (``latents.jsonl``), or None without them (real data)."""
    root = _dataset_dir(data_dir)
    path = root / layout.LATENTS_FILE
    if not path.is_file():
        return None
    records = _read_jsonl(path, "latents")
    if any("product_code" not in r for r in records):
        raise UserError(f"{path}: every record needs a product_code: regenerate the dataset")
    return pd.DataFrame.from_records(records)


def load_image(path: str | Path):  # -> PIL.Image.Image (PIL imported lazily: it is not needed to read tables)
    """Open an image as RGB, fully loaded.

    Raises:
        UserError: the file is missing or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"image {path} is missing: regenerate the dataset") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"cannot read image {path} ({exc}): replace the file or regenerate the dataset"
        ) from None
