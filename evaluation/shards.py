"""Data-parallel evaluation under ``torchrun``: every process generates its share of the rows, the first one
collects the answers, scores them and writes the report.

    torchrun --nproc-per-node 8 -m evaluation.cli --model RUN --data DATASET --report OUT

Each process takes rows ``rank, rank + world, ...`` (``Processes`` of ``phi3v.processes``: gloo on
CPUs, NCCL on GPUs, one GPU per process). A failure in any process before generation starts is told to the
others (``ready``), so none of them waits for an answer that will not come.
"""

from __future__ import annotations

import os
from typing import Any

from contracts.errors import UserError


def start_processes() -> Any | None:
    """The process group when launched by torchrun (``WORLD_SIZE`` > 1); None for a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    from phi3v.processes import start_processes as start

    return start()


def stop_processes(procs: Any | None) -> None:
    if procs is not None:
        from phi3v.processes import stop_processes as stop

        stop(procs)


def ready(procs: Any | None, failed: bool = False) -> None:
    """Each process calls this once, when it is set up (or has failed to be): a failure anywhere stops all.

    Raises:
        UserError: another process failed.
    """
    if procs is not None and procs.any(failed) and not failed:
        raise UserError("another process of this evaluation stopped with an error (see its message)")


class Sync:
    """Says once, for this process, whether it got ready to answer (``ready``): a failure before that in any
    process stops them all instead of leaving the others waiting for answers that will not come."""

    def __init__(self, procs: Any | None) -> None:
        self.procs, self.done = procs, False

    def ready(self) -> None:
        if not self.done:
            self.done = True
            ready(self.procs)

    def failed(self) -> None:
        if not self.done:
            self.done = True
            ready(self.procs, failed=True)


def my_rows(procs: Any | None, n: int) -> list[int]:
    """The rows this process generates answers for."""
    if procs is None:
        return list(range(n))
    return list(range(procs.rank, n, procs.world_size))


def gather(procs: Any | None, rows: list[int], texts: list[str], extra: dict[str, float], n: int):
    """Every process's answers put back in row order, and the ``extra`` figures of all of them (summed
    counts, the slowest process's seconds)."""
    if procs is None:
        return texts, extra
    import torch.distributed as dist

    parts: list[Any] = [None] * procs.world_size
    dist.all_gather_object(parts, (rows, texts, extra))
    ordered = [""] * n
    for part_rows, part_texts, _ in parts:
        for i, text in zip(part_rows, part_texts, strict=True):
            ordered[i] = text
    seconds = max(p[2]["seconds"] for p in parts)
    return ordered, {"seconds": seconds, "new_tokens": sum(p[2]["new_tokens"] for p in parts)}
