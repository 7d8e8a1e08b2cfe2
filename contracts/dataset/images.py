"""A row's image, whichever layout holds it: a file path (imagefolder) or ``FILE.parquet#ROW`` (parquet).

The reader puts one such reference per row in its ``image_path`` column; ``load_image`` and ``image_bytes``
resolve either kind, so consumers never look at the layout. A parquet reference is read a row group at a
time (``hub.ROW_GROUP_ROWS`` images) through a small per-process cache, so reading rows in order touches each
row group once and random access costs one row group per image; memory stays bounded either way.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from contracts.dataset.layout import IMAGE_COLUMN
from contracts.errors import UserError

_REF = re.compile(r"(?P<file>.+\.parquet)#(?P<row>\d+)")
_OPEN_FILES = 16
_CACHED_GROUPS = 8


def image_ref(path: str | Path, row: int) -> str:
    """The reference of row ``row`` (0-based, within the file) of a parquet data file."""
    return f"{path}#{row}"


def parse_ref(ref: str | Path) -> tuple[str, int] | None:
    """(parquet file, row) of a parquet reference; None for a plain file path."""
    match = _REF.fullmatch(str(ref))
    return (match["file"], int(match["row"])) if match else None


class _Groups:
    """Open parquet files and their most recently read image row groups, shared by a process's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[Any, list[int], tuple]] = OrderedDict()
        self._groups: OrderedDict[tuple[str, int], Any] = OrderedDict()

    def _file(self, path: str) -> tuple[Any, list[int]]:
        import pyarrow.parquet as pq

        st = os.stat(path)  # a file replaced since (a dataset written again) is opened afresh
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        entry = self._files.get(path)
        if entry is not None and entry[2] != stamp:
            entry[0].close()
            del self._files[path]
            self._groups = OrderedDict((k, v) for k, v in self._groups.items() if k[0] != path)
            entry = None
        if entry is None:
            pf = pq.ParquetFile(path)
            starts, n = [], 0
            for g in range(pf.metadata.num_row_groups):
                starts.append(n)
                n += pf.metadata.row_group(g).num_rows
            starts.append(n)
            entry = self._files[path] = (pf, starts, stamp)
            while len(self._files) > _OPEN_FILES:
                _, (old, _, _) = self._files.popitem(last=False)
                old.close()
        self._files.move_to_end(path)
        return entry[0], entry[1]

    def get(self, path: str, row: int) -> bytes:
        import bisect

        with self._lock:
            pf, starts = self._file(path)
            if not 0 <= row < starts[-1]:
                raise IndexError(row)
            group = bisect.bisect_right(starts, row) - 1
            key = (path, group)
            column = self._groups.get(key)
            if column is None:
                table = pf.read_row_group(group, columns=[f"{IMAGE_COLUMN}.bytes"])
                column = table.column(0).combine_chunks()  # the struct, with its "bytes" field only
                column = self._groups[key] = column.field("bytes")
                while len(self._groups) > _CACHED_GROUPS:
                    self._groups.popitem(last=False)
            self._groups.move_to_end(key)
            value = column[row - starts[group]].as_py()
        if value is None:
            raise ValueError("the image cell is empty")
        return value

    def clear(self) -> None:
        with self._lock:
            for pf, _, _ in self._files.values():
                pf.close()
            self._files.clear()
            self._groups.clear()


_GROUPS = _Groups()


def image_bytes(ref: str | Path) -> bytes:
    """The encoded image a reference points at.

    Raises:
        UserError: the file or row is missing or unreadable.
    """
    parsed = parse_ref(ref)
    if parsed is None:
        try:
            return Path(ref).read_bytes()
        except FileNotFoundError:
            raise UserError(f"image {ref} is missing: regenerate the dataset") from None
        except OSError as exc:
            raise UserError(f"cannot read image {ref} ({exc.strerror}): regenerate the dataset") from None
    import pyarrow as pa

    path, row = parsed
    try:
        return _GROUPS.get(path, row)
    except FileNotFoundError:
        raise UserError(f"data file {path} is missing: regenerate the dataset") from None
    except IndexError:
        raise UserError(f"data file {path} has no row {row}: regenerate the dataset") from None
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise UserError(
            f"cannot read the image of row {row} of {path} ({exc}): regenerate the dataset"
        ) from None


def load_image(ref: str | Path):  # -> PIL.Image.Image (PIL imported lazily: it is not needed to read tables)
    """Open the image a reference points at (a file path or a parquet reference) as RGB, fully loaded.

    Raises:
        UserError: the image is missing or not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    source: Any = ref if parse_ref(ref) is None else io.BytesIO(image_bytes(ref))
    try:
        with Image.open(source) as img:
            return img.convert("RGB")
    except FileNotFoundError:
        raise UserError(f"image {ref} is missing: regenerate the dataset") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(
            f"cannot read image {ref} ({exc}): replace the file or regenerate the dataset"
        ) from None


def image_source(ref: str | Path | None) -> str | bytes | None:
    """What an image-taking function of ``reports`` accepts: the path of a file, the bytes behind a parquet
    reference; None when there is no reference or its image cannot be read (a report shows a placeholder)."""
    if not ref:
        return None
    if parse_ref(ref) is None:
        return str(ref)
    try:
        return image_bytes(ref)
    except UserError:
        return None
