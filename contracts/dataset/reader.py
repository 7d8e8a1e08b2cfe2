"""Read a DATASET dir, in either layout (``layout``): the only way evaluation and fine-tuning get at data.

Both layouts give the same frame: ``file_name``, the 17 columns with their schema dtypes, and ``image_path``,
a reference to the row's image that ``load_image`` (or ``image_bytes``) resolves: the JPEG's path in the
imagefolder layout, ``FILE.parquet#ROW`` in the parquet layout. Rows come in the order they are stored.
``iter_rows`` yields the same rows one at a time with bounded memory, images included on request.

Every problem a user can cause (no such dir, a missing split or data file, a missing or mistyped column, an
unreadable image, a ``file_name`` that points outside its split folder) raises ``UserError`` naming it and
the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from contracts.dataset import layout
from contracts.dataset.images import image_bytes, image_ref, image_source, load_image
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.errors import UserError

IMAGE_PATH = "image_path"  # the extra column read_split adds: the row's image (a path or a parquet reference)

_MAKE_ONE = "run `datagen synth --out {dir}` (or `datagen real --out {dir}`) first"
_BATCH_ROWS = 1000  # imagefolder rows per batch in iter_rows


def _dataset_dir(data_dir: str | Path) -> Path:
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"no such dataset dir: {root} ({_MAKE_ONE.format(dir=root)})")
    return root.absolute()


def available_splits(data_dir: str | Path) -> list[str]:
    """The splits of ``layout.SPLITS`` that ``data_dir`` holds rows of, in canonical order."""
    root = _dataset_dir(data_dir)
    if layout.dataset_format(root) == layout.PARQUET:
        return list(layout.data_files(root))
    return [s for s in layout.SPLITS if (root / s / layout.METADATA_FILE).is_file()]


def _read_jsonl(path: Path, what: str, keep: set[int] | None = None) -> list[dict]:
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
                if keep is None or record.get("product_code") in keep:
                    records.append(record)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return records


def _check_schema(path: Path, schema, names: tuple[str, ...]) -> None:  # schema: pyarrow.Schema
    """Every column of ``names`` is present with its schema dtype (``file_name``: string)."""
    import pyarrow as pa

    missing = [c for c in names if c not in schema.names]
    if missing:
        raise UserError(
            f"{path} lacks column(s) {', '.join(missing)}: the "
            + ("metadata needs file_name plus" if FILE_NAME in names else "data files need")
            + " the 17 DBQ columns; regenerate the dataset"
        )
    for name in names:
        dtype = COLUMNS.get(name, "string")
        arrow_type = schema.field(name).type
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


def _read_columns(path: Path, names: tuple[str, ...]) -> pd.DataFrame:
    """``names`` of a parquet file as a frame with schema dtypes, checked (types, no missing values)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        _check_schema(path, schema, names)
        table = pq.read_table(path, columns=list(names))
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"cannot read {path} ({exc}): regenerate the dataset") from None
    for name in names:
        if table.column(name).null_count:
            raise UserError(
                f"{path}: column {name!r} has missing values: fill them or regenerate the dataset"
            )
    return table.to_pandas().astype({FILE_NAME: "string", **COLUMNS} if FILE_NAME in names else COLUMNS)


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


def _no_split(root: Path, split: str, where: str) -> UserError:
    present = ", ".join(available_splits(root)) or "none"
    return UserError(
        f"dataset {root} has no {split!r} split (no {where}; splits present: {present}): "
        f"choose another split or {_MAKE_ONE.format(dir=root)}"
    )


def split_files(data_dir: str | Path, split: str) -> list[Path]:
    """Parquet layout: the data files of ``split``, checked to be the whole numbered sequence.

    Raises:
        UserError: the split has no files, or one of its ``-of-N`` sequence is missing or stray.
    """
    root = _dataset_dir(data_dir)
    paths = layout.data_files(root).get(split, [])
    if not paths:
        raise _no_split(root, split, f"{layout.DATA_DIR}/{split}-*.parquet")
    parsed = [layout.parse_data_file(p.name) for p in paths]
    count = parsed[0][2]  # type: ignore[index]
    have = {(i, n) for _, i, n in parsed}  # type: ignore[misc]
    want = {(i, count) for i in range(count)}
    if have != want:
        odd = sorted(have - want)
        if odd:
            name = layout.data_file(split, *odd[0])
            raise UserError(
                f"{root / name} does not belong with {split}'s {count} data files: "
                "remove it or regenerate the dataset"
            )
        name = layout.data_file(split, *sorted(want - have)[0])
        raise UserError(f"dataset {root} lacks {name}: copy it back or regenerate the dataset")
    return paths


def _parquet_split(root: Path, split: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frames, refs = [], []
    for path in split_files(root, split):
        frame = _read_columns(path, COLUMN_NAMES)
        frames.append(frame)
        refs += [image_ref(path, i) for i in range(len(frame))]
        if layout.IMAGE_COLUMN not in pq.read_schema(path).names:
            raise UserError(f"{path} has no {layout.IMAGE_COLUMN!r} column: regenerate the dataset")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.insert(0, FILE_NAME, pd.array([layout.image_name(c) for c in frame["product_code"]], "string"))
    frame[IMAGE_PATH] = pd.array(refs, dtype="string")
    return frame


def read_split(data_dir: str | Path, split: str) -> pd.DataFrame:
    """One split as a DataFrame: ``file_name``, the 17 columns with schema dtypes, and ``image_path``.

    Raises:
        UserError: the dir or split is missing, or its files break the schema.
    """
    root = _dataset_dir(data_dir)
    if split not in layout.SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(layout.SPLITS)}")
    if layout.dataset_format(root) == layout.PARQUET:
        return _parquet_split(root, split)
    meta = root / split / layout.METADATA_FILE
    if not meta.is_file():
        raise _no_split(root, split, f"{split}/{layout.METADATA_FILE}")
    frame = _read_columns(meta, (FILE_NAME, *COLUMN_NAMES))
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
            f"{root} holds no split folder with a {layout.METADATA_FILE} and no {layout.DATA_DIR}/*.parquet: "
            f"it is not a DATASET dir; {_MAKE_ONE.format(dir=root)}"
        )
    return {s: read_split(root, s) for s in names}


def iter_rows(data_dir: str | Path, split: str, *, images: bool = False) -> Iterator[dict]:
    """The rows of ``split`` in stored order, one dict at a time (``file_name``, the 17 columns,
    ``image_path``, and with ``images`` the encoded image as ``image``), reading a row group or a batch at a
    time: memory does not grow with the split.

    Raises:
        UserError: as ``read_split``, when a file is reached.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = _dataset_dir(data_dir)
    if split not in layout.SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(layout.SPLITS)}")
    if layout.dataset_format(root) == layout.PARQUET:
        sources = [(p, COLUMN_NAMES) for p in split_files(root, split)]
    else:
        meta = root / split / layout.METADATA_FILE
        if not meta.is_file():
            raise _no_split(root, split, f"{split}/{layout.METADATA_FILE}")
        sources = [(meta, (FILE_NAME, *COLUMN_NAMES))]
    for path, names in sources:
        parquet_layout = FILE_NAME not in names
        columns = list(names) + ([f"{layout.IMAGE_COLUMN}.bytes"] if parquet_layout and images else [])
        try:
            pf = pq.ParquetFile(path)
            _check_schema(path, pf.schema_arrow, names)
            batches = pf.iter_batches(batch_size=_BATCH_ROWS, columns=columns)
            start = 0
            for batch in batches:
                for i, row in enumerate(batch.to_pylist()):
                    if any(row[n] is None for n in names):
                        raise UserError(f"{path}: row {start + i + 1} has missing values: regenerate it")
                    if parquet_layout:
                        image = row.pop(layout.IMAGE_COLUMN, None)
                        out = {FILE_NAME: layout.image_name(row["product_code"]), **row}
                        out[IMAGE_PATH] = image_ref(path, start + i)
                        if images:
                            out["image"] = image["bytes"] if isinstance(image, dict) else image
                    else:
                        out = dict(row)
                        out[IMAGE_PATH] = _image_path(root / split, row[FILE_NAME], path, start + i + 1)
                        if images:
                            out["image"] = image_bytes(out[IMAGE_PATH])
                    yield out
                start += batch.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise UserError(f"cannot read {path} ({exc}): regenerate the dataset") from None


def stored_types(data_dir: str | Path) -> dict[str, str]:
    """Column -> arrow type as stored in the first split's files (``file_name`` first, then the columns, the
    image column left out), the same for both layouts; empty when the dir holds no split."""
    import pyarrow.parquet as pq

    root = _dataset_dir(data_dir)
    splits = available_splits(root)
    if not splits:
        return {}
    if layout.dataset_format(root) == layout.PARQUET:
        schema = pq.read_schema(split_files(root, splits[0])[0])
        types = {FILE_NAME: "string"}
    else:
        schema = pq.read_schema(root / splits[0] / layout.METADATA_FILE)
        types = {}
    types.update({f.name: str(f.type) for f in schema if f.name != layout.IMAGE_COLUMN})
    return types


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


def latent_files(data_dir: str | Path) -> list[Path]:
    """The files holding the synthetic rows' latents, in order (none for real data)."""
    root = _dataset_dir(data_dir)
    folder = root / layout.LATENTS_DIR
    if folder.is_dir():
        return sorted(p for p in folder.iterdir() if p.suffix == ".jsonl" and not p.name.startswith("."))
    single = root / layout.LATENTS_FILE
    return [single] if single.is_file() else []


def read_latents(data_dir: str | Path, codes: Iterable[int] | None = None) -> pd.DataFrame | None:
    """The synthetic rows' latent attributes, or None without them (real data); with ``codes``, only the
    records of those product codes are kept (what a split needs of a large dataset)."""
    files = latent_files(data_dir)
    if not files:
        return None
    keep = None if codes is None else {int(c) for c in codes}
    records = [r for path in files for r in _read_jsonl(path, "latents", keep)]
    if any("product_code" not in r for r in records):
        raise UserError(
            f"{files[0].parent}: every latents record needs a product_code: regenerate the dataset"
        )
    return pd.DataFrame.from_records(records)


__all__ = [
    "IMAGE_PATH",
    "available_splits",
    "image_bytes",
    "image_source",
    "iter_rows",
    "latent_files",
    "load_image",
    "read_dataset",
    "read_info",
    "read_latents",
    "read_split",
    "split_files",
    "stored_types",
]
