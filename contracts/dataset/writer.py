"""Write a DATASET dir atomically: everything goes into a temporary sibling of the output, renamed at the end.

    with DatasetWriter(out, overwrite=True) as writer:
        writer.add("train", row, jpeg_bytes)
        writer.add_sidecar_record(layout.LATENTS_FILE, row["product_code"], latent)
        writer.finish(info, card)

Images are streamed to disk as they arrive; only each row's metadata, serialised to one compact JSON line, is
kept until ``finish`` writes ``metadata.parquet`` per split, so memory grows by a few hundred bytes per row.
An exception, Ctrl-C or SIGTERM inside the ``with`` block removes the temporary dir and leaves the output as
it was. Entering the block claims the output (``contracts.outputs``): a second writer into the same dir is
refused while the first runs, and the temporary dirs of a killed one are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from contracts.dataset import layout
from contracts.dataset.hub import metadata_schema
from contracts.dataset.schema import COLUMNS, FILE_NAME, coerce_row, row_problems
from contracts.errors import UserError
from contracts.outputs import TMP_TAG, OutputLock, check_replaceable, remove_leftovers, swap_dir_into_place


def write_metadata(path: Path, records: list[dict]) -> None:
    """Write ``records`` (file_name + 17 columns each) as a parquet file with the exact schema dtypes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = metadata_schema()
    table = pa.Table.from_pydict({n: [r[n] for r in records] for n in schema.names}, schema=schema)
    pq.write_table(table, path, compression="zstd")


def _json_line(record: dict) -> str:
    # ensure_ascii=False keeps real titles readable; floats stay floats (1290.0), which keeps their dtype.
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)


def card_header(
    pretty_name: str,
    split_counts: dict[str, int],
    fmt: str = layout.IMAGEFOLDER,
    split_bytes: dict[str, int] | None = None,
) -> list[str]:
    """The YAML header of a DATASET dir's README.md, the same for synthetic and imported data: the splits'
    data files (the split folders, or the parquet files under ``data/``) and the features (image + the 17
    columns), so that `datasets.load_dataset(DIR)` reads every one alike. With ``split_bytes`` (the bytes of
    each split's encoded images) the splits are complete as `datasets` reads them, and it checks the row
    counts as it loads."""
    splits = [s for s in layout.SPLITS if split_counts.get(s)]
    lines = ["---", f"pretty_name: {pretty_name}", "configs:", "- config_name: default", "  data_files:"]
    for s in splits:
        path = f"{layout.DATA_DIR}/{s}-*" if fmt == layout.PARQUET else f"{s}/*"
        lines += [f"  - split: {s}", f"    path: {path}"]
    lines += ["dataset_info:", "  features:", "  - name: image", "    dtype: image"]
    for name, dtype in COLUMNS.items():
        lines += [f"  - name: {name}", f"    dtype: {dtype}"]
    lines += ["  splits:"]
    for s in splits:
        lines += [f"  - name: {s}"]
        if split_bytes is not None:
            lines += [f"    num_bytes: {split_bytes.get(s, 0)}"]
        lines += [f"    num_examples: {split_counts[s]}"]
    return [*lines, "---", ""]


def check_output_dir(out: str | Path, overwrite: bool) -> Path:
    """Refuse an output that cannot be used; return it as an absolute path. Creates missing parents.

    Raises:
        UserError: ``out`` is a file or an unsafe place; it holds anything but a DATASET dir this project
            wrote, or one without ``overwrite``; or its parent is not writable.
    """
    out = Path(out).expanduser().absolute()
    check_replaceable(out, layout.DATASET_KIND, overwrite=overwrite)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the parent dir of {out}: {exc.strerror}; choose another --out"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {parent} (permission denied): choose another --out")
    return out


def read_metadata_records(path: Path) -> list[dict]:
    """The rows of a metadata file written by ``write_metadata``, as plain dicts (for merging shards)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


class PreparedRow(NamedTuple):
    """A validated row, serialised: what a worker process hands the writer instead of the row dict."""

    code: int
    file_name: str
    line: str


def prepare_row(row: dict) -> PreparedRow:
    """Validate ``row`` against the schema and serialise it with its ``file_name`` (pure; any process).

    Raises:
        UserError: the row breaks the schema (the message names each problem).
    """
    clean = _checked(row)
    code = int(clean["product_code"])  # type: ignore[arg-type]
    file_name = layout.image_name(code)
    return PreparedRow(code, file_name, _json_line({FILE_NAME: file_name, **clean}))


def row_values(row: dict) -> tuple:
    """The 17 columns of ``row`` in schema order, validated and coerced (pure; any process).

    Raises:
        UserError: the row breaks the schema (the message names each problem).
    """
    return tuple(_checked(row).values())


def _checked(row: dict) -> dict:
    """``row`` coerced to the schema's types, after its check (the error names each problem)."""
    problems = row_problems(row)
    if problems:
        code = row.get("product_code", "?")
        raise UserError(f"row with product_code {code} breaks the schema: {'; '.join(problems)}")
    return coerce_row(row)


def info_bytes(info: dict) -> bytes:
    """``dataset_info.json`` as written, byte for byte (a merge writes what one run would)."""
    return (json.dumps(info, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sidecar_line(record: dict) -> str:
    """One sidecar record serialised as the writer does (for records prepared in worker processes)."""
    return _json_line(record)


class DatasetWriter:
    """Context manager writing one DATASET dir (split folders, metadata, sidecars, card, info) atomically."""

    def __init__(self, out: str | Path, *, overwrite: bool = False) -> None:
        self.out = check_output_dir(out, overwrite)
        self.overwrite = overwrite
        self._tmp: Path | None = None
        self._lines: dict[str, list[tuple[int, str]]] = {s: [] for s in layout.SPLITS}
        self._sidecars: dict[str, list[tuple[int, str]]] = {}
        self._extra_files: dict[str, bytes] = {}
        self._codes: set[int] = set()
        self._made_dirs: set[str] = set()
        self._lock = OutputLock(self.out)

    # context management
    def __enter__(self) -> DatasetWriter:
        self._lock.acquire()
        try:
            remove_leftovers(self.out)
            check_output_dir(self.out, self.overwrite)  # again, now that no other run can change it
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}{TMP_TAG}", dir=self.out.parent))
        except OSError as exc:
            self._lock.release()
            raise UserError(
                f"cannot write into {self.out.parent}: {exc.strerror}; choose another --out"
            ) from None
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Also reached on Ctrl-C and SIGTERM; whatever happened, no half dataset is left behind.
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None
        self._lock.release()

    @property
    def tmp_dir(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("DatasetWriter used outside its `with` block")
        return self._tmp

    # adding content
    def add(self, split: str, row: dict, image: bytes) -> str:
        """Write ``image`` as the row's file and keep its metadata line; return the file name.

        Raises:
            UserError: the row breaks the schema or repeats a product code.
        """
        prepared = prepare_row(row)
        (self.split_dir(split) / prepared.file_name).write_bytes(image)
        self.add_prepared(split, prepared)
        return prepared.file_name

    def split_dir(self, split: str) -> Path:
        """The (temporary) folder of ``split``, created on first use: where its images go."""
        if split not in layout.SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {layout.SPLITS}")
        path = self.tmp_dir / split
        if split not in self._made_dirs:
            path.mkdir(exist_ok=True)
            self._made_dirs.add(split)
        return path

    def add_prepared(self, split: str, prepared: PreparedRow) -> None:
        """Keep a row prepared elsewhere (a worker process that also wrote its image into ``split_dir``).

        Raises:
            UserError: the product code was already added.
        """
        if split not in layout.SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {layout.SPLITS}")
        if prepared.code in self._codes:
            raise UserError(f"product_code {prepared.code} appears twice: product codes must be unique")
        self._codes.add(prepared.code)
        self._lines[split].append((prepared.code, prepared.line))

    def add_sidecar_record(self, name: str, key: int, record: dict) -> None:
        """Add one record to the JSONL sidecar ``name`` at the dataset root; records are sorted by ``key``."""
        self.add_sidecar_line(name, key, _json_line(record))

    def add_sidecar_line(self, name: str, key: int, line: str) -> None:
        """Like ``add_sidecar_record`` with the record already serialised by ``sidecar_line``."""
        self._sidecars.setdefault(name, []).append((int(key), line))

    def add_extra_file(self, name: str, data: bytes) -> None:
        """Add a file at the dataset root (outside the split folders, so imagefolder ignores it)."""
        if "/" in name or name in layout.SPLITS or name in (layout.CARD_FILE, layout.INFO_FILE):
            raise ValueError(f"bad extra file name {name!r}")
        self._extra_files[name] = data

    def split_counts(self) -> dict[str, int]:
        """Rows added so far per split (every split, zeros included)."""
        return {s: len(lines) for s, lines in self._lines.items()}

    # finishing
    def finish(self, info: dict, card: str) -> Path:
        """Write metadata, sidecars, ``dataset_info.json`` and the card, then swap the dir into place.

        Returns:
            The output dir.
        """
        tmp = self.tmp_dir
        for split, lines in self._lines.items():
            if not lines:
                continue
            lines.sort()
            write_metadata(tmp / split / layout.METADATA_FILE, [json.loads(line) for _, line in lines])
        for name, records in self._sidecars.items():
            records.sort()
            (tmp / name).write_text("".join(line + "\n" for _, line in records), encoding="utf-8")
        for name, data in self._extra_files.items():
            (tmp / name).write_bytes(data)
        (tmp / layout.INFO_FILE).write_bytes(info_bytes(info))
        (tmp / layout.CARD_FILE).write_text(card, encoding="utf-8")
        self._swap_into_place()
        return self.out

    def _swap_into_place(self) -> None:
        swap_dir_into_place(self.tmp_dir, self.out, replace=self.overwrite)
        self._tmp = None
