"""Files written row by row with bounded memory: a parquet file in row groups, a JSONL file line by line.

Each goes to a temporary sibling (``.NAME.tmp-XXXX``) and is renamed to its name only when complete, so a
file under its final name is whole; ``close`` returns what an index records of it (path, rows, bytes,
sha256). ``abort`` removes the temporary file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.outputs import temp_sibling

FileRecord = dict[str, Any]  # {"path": relative path, "rows": int, "bytes": int, "sha256": hex}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class RowGroupWriter:
    """Rows (tuples in schema order; a struct column's value is a tuple of its fields) into one parquet file,
    ``group_rows`` rows per row group, so that at most one row group is held in memory."""

    def __init__(self, root: Path, name: str, schema: Any, group_rows: int, options: dict) -> None:
        import pyarrow.parquet as pq

        self.root, self.name, self.schema, self.group_rows = root, name, schema, group_rows
        self.path = root / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path)
        self._writer = pq.ParquetWriter(self._tmp, schema, **options)
        self._rows: list[Sequence] = []
        self.rows = 0

    def add(self, row: Sequence) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        arrays = []
        for field, values in zip(self.schema, columns, strict=True):
            if pa.types.is_struct(field.type):
                parts = list(zip(*values, strict=True))
                children = [pa.array(p, type=f.type) for p, f in zip(parts, field.type, strict=True)]
                arrays.append(pa.StructArray.from_arrays(children, fields=list(field.type)))
            else:
                arrays.append(pa.array(values, type=field.type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows += len(self._rows)
        self._rows = []

    def close(self) -> FileRecord:
        """Write the last row group and the footer, rename the file into place; return its record."""
        self._flush()
        self._writer.close()
        record = {"path": self.name, "rows": self.rows, "bytes": self._tmp.stat().st_size}
        record["sha256"] = _sha256(self._tmp)
        os.replace(self._tmp, self.path)
        return record

    def abort(self) -> None:
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the file is thrown away either way
            pass
        self._tmp.unlink(missing_ok=True)


class LinesWriter:
    """Text lines into one file (UTF-8, one line per record), hashed as they are written."""

    def __init__(self, root: Path, name: str) -> None:
        self.root, self.name = root, name
        self.path = root / name
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temp_sibling(self.path)
        self._fh = self._tmp.open("wb")
        self._digest = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def add(self, line: str) -> None:
        data = (line + "\n").encode("utf-8")
        self._fh.write(data)
        self._digest.update(data)
        self.rows += 1
        self.bytes += len(data)

    def close(self) -> FileRecord:
        self._fh.close()
        os.replace(self._tmp, self.path)
        return {"path": self.name, "rows": self.rows, "bytes": self.bytes, "sha256": self._digest.hexdigest()}

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)
