"""Rows into files as they are made, so a run's memory does not grow with its rows.

Rows arrive in row order. Each block of rows (``blocks.FilePlan``) gets one latents file and, in the parquet
layout, one data file per split with the images inside; in the imagefolder layout the workers have already
written the JPEGs and the metadata rows go, in row order, into one file per split
(``{split}/metadata.parquet``, or a sharded job's part of it under ``shards/``, which `datagen synth-merge`
joins). Every file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path

from contracts.dataset import hub, layout
from contracts.dataset.files import FileRecord, LinesWriter, RowGroupWriter
from contracts.dataset.schema import COLUMN_NAMES
from datagen.synth.blocks import FilePlan

_CODE = COLUMN_NAMES.index("product_code")


def metadata_writer(root: Path, name: str) -> RowGroupWriter:
    """An imagefolder split's metadata file (``file_name`` + the 17 columns), in fixed row groups."""
    return RowGroupWriter(
        root, name, hub.metadata_schema(), hub.METADATA_GROUP_ROWS, hub.metadata_write_options()
    )


class BlockSink:
    """Writes one job's rows into the files of its blocks (see the module docstring)."""

    def __init__(self, root: Path, fmt: str, files: FilePlan, job: tuple[int, int] | None = None) -> None:
        self.root, self.fmt, self.files, self.job = root, fmt, files, job
        self.records: list[FileRecord] = []  # files done: data (and metadata) and latents
        self.parts: list[FileRecord] = []  # imagefolder, sharded: this job's metadata rows per split
        self.split_bytes = dict.fromkeys(layout.SPLITS, 0)  # the JPEGs' bytes per split
        self._block = -1
        self._latents: LinesWriter | None = None
        self._data: dict[int, RowGroupWriter] = {}
        self._meta: dict[int, RowGroupWriter] = {}

    def add(
        self, index: int, split: int, values: tuple, image: bytes | None, nbytes: int, latent_line: str
    ) -> None:
        """Row ``index`` (its split's index in ``layout.SPLITS``, its 17 values, its JPEG in the parquet
        layout, the JPEG's size, its latents record serialised)."""
        self.split_bytes[layout.SPLITS[split]] += nbytes
        block = index // self.files.block_rows
        if block != self._block:
            self._close_block()
            self._block = block
            self._latents = LinesWriter(self.root, self.files.latents_file(block))
        self._latents.add(latent_line)  # type: ignore[union-attr]
        name = layout.image_name(values[_CODE])
        if self.fmt == layout.PARQUET:
            writer = self._data.get(split)
            if writer is None:
                writer = self._data[split] = RowGroupWriter(
                    self.root,
                    self.files.data_file(split, block),
                    hub.data_schema(),
                    hub.ROW_GROUP_ROWS,
                    hub.data_write_options(),
                )
            writer.add(((image, name), *values))
        else:
            writer = self._meta.get(split)
            if writer is None:
                writer = self._meta[split] = metadata_writer(self.root, self._meta_name(split))
            writer.add((name, *values))

    def _meta_name(self, split: int) -> str:
        name = layout.SPLITS[split]
        if self.job is None:
            return f"{name}/{layout.METADATA_FILE}"
        return layout.shard_part(*self.job, name)

    def _close_block(self) -> None:
        if self._latents is not None:
            self.records.append(self._latents.close())
            self._latents = None
        for split in sorted(self._data):
            self.records.append(self._data.pop(split).close())

    def close(self) -> None:
        """Finish every file (``records`` and ``parts`` then list them, sorted by path)."""
        self._close_block()
        for split in sorted(self._meta):
            record = self._meta.pop(split).close()
            (self.parts if self.job is not None else self.records).append(record)
        self.records.sort(key=lambda r: r["path"])
        self.parts.sort(key=lambda r: r["path"])

    def abort(self) -> None:
        """Remove the files being written and those finished (a failed job leaves none of its own)."""
        writers = [*self._data.values(), *self._meta.values()]
        if self._latents is not None:
            writers.append(self._latents)  # type: ignore[arg-type]
        for writer in writers:
            writer.abort()
        for record in [*self.records, *self.parts]:
            (self.root / record["path"]).unlink(missing_ok=True)
        self._data, self._meta, self._latents = {}, {}, None
