"""Processes and devices: one, or several under torchrun, each with its own device.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them the run is one process.
CUDA processes talk over NCCL, CPU ones over gloo (that is how the tests run two processes on a laptop).
Training (``finetune.distributed``) and evaluation (``evaluation.shards``) both join this group.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class Processes:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def sum(self, value: float) -> float:
        """Sum of ``value`` over all processes (float64 on the wire)."""
        return self._reduce(value, dist.ReduceOp.SUM)

    def max(self, value: float) -> float:
        """Largest ``value`` of all processes."""
        return self._reduce(value, dist.ReduceOp.MAX)

    def _reduce(self, value: float, op: Any) -> float:
        if not self.distributed:
            return float(value)
        t = torch.tensor([value], dtype=torch.float64, device=self._wire)
        dist.all_reduce(t, op=op)
        return float(t.item())

    def any(self, flag: bool) -> bool:
        return self.sum(1.0 if flag else 0.0) > 0

    @property
    def _wire(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def start_processes() -> Processes:
    """Join the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if cuda else "gloo", rank=rank, world_size=world, timeout=timedelta(minutes=30)
        )
    return Processes(rank=rank, world_size=world, local_rank=local, device=device)


def stop_processes(procs: Processes) -> None:
    """Leave the process group. Every rank first waits for the others, then gloo's threads get a moment to
    free the last collectives' buffers, which needs the GIL: tearing the group down holds the GIL while it
    joins those threads, and would wait forever for one still freeing (a hang at the end of a run)."""
    if procs.distributed and dist.is_initialized():
        dist.barrier()
        time.sleep(0.2)
        dist.destroy_process_group()
