"""Which file each row goes into: rows are cut into blocks of consecutive row indices, and each block makes
one data file per split (parquet layout) and one latents file, whichever job writes it.

The cut depends only on the run's content arguments (rows, image size) and its split assignment, never on
``--shard`` or ``--workers``: every job of a sharded run derives the same file names (so N jobs never collide
and their files equal those of one unsharded run), and job I of N writes whole blocks
(``job_blocks``), the I-th of N near-equal runs of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts.dataset import layout

# Rows per block at 336 px: a train data file of 8,000 JPEGs is about 100 MB, well inside the hub's 500 MB
# shards, and a million rows make 100 blocks (so up to 100 jobs have work).
BLOCK_ROWS_AT_336 = 10_000


def block_rows(image_size: int) -> int:
    """Rows per block: ``BLOCK_ROWS_AT_336`` scaled by the image's pixels, so files stay near 100 MB."""
    rows = round(BLOCK_ROWS_AT_336 * (336 / image_size) ** 2, -2)
    return int(min(100_000, max(1_000, rows)))


@dataclass(frozen=True)
class FilePlan:
    """The blocks of a run and, per split, which blocks hold rows of it (each such block is one data file)."""

    rows: int
    block_rows: int
    counts: np.ndarray  # (blocks, splits): rows of each split in each block

    @classmethod
    def make(cls, splits: np.ndarray, block_rows: int) -> FilePlan:
        """From each row's split index (``layout.SPLITS`` order) and the rows per block."""
        rows = len(splits)
        blocks = max(1, -(-rows // block_rows))
        block_of = np.arange(rows, dtype=np.int64) // block_rows
        flat = np.bincount(block_of * len(layout.SPLITS) + splits, minlength=blocks * len(layout.SPLITS))
        return cls(rows, block_rows, flat.reshape(blocks, len(layout.SPLITS)))

    @property
    def blocks(self) -> int:
        return int(self.counts.shape[0])

    def block_range(self, block: int) -> range:
        return range(block * self.block_rows, min(self.rows, (block + 1) * self.block_rows))

    def data_file(self, split: int, block: int) -> str:
        """The data file of split ``split`` (an index into ``layout.SPLITS``) that block ``block`` makes."""
        present = self.counts[:, split] > 0
        if not present[block]:
            raise ValueError(f"block {block} has no {layout.SPLITS[split]} rows")
        return layout.data_file(layout.SPLITS[split], int(present[:block].sum()), int(present.sum()))

    def latents_file(self, block: int) -> str:
        return layout.latents_file(block, self.blocks)

    def job_blocks(self, index: int, count: int) -> range:
        """Blocks of job ``index`` (1-based) of ``count``; empty when there are fewer blocks than jobs."""
        return range((index - 1) * self.blocks // count, index * self.blocks // count)

    def job_rows(self, index: int, count: int) -> range:
        blocks = self.job_blocks(index, count)
        if not blocks:
            return range(0)
        return range(self.block_range(blocks.start).start, self.block_range(blocks.stop - 1).stop)

    def split_counts(self, blocks: range | None = None) -> dict[str, int]:
        """Rows per split in ``blocks`` (default: all)."""
        part = self.counts if blocks is None else self.counts[blocks.start : blocks.stop]
        totals = part.sum(axis=0)
        return {s: int(totals[k]) for k, s in enumerate(layout.SPLITS)}
