"""Training across processes: threads per process, DDP (FSDP for full fine-tuning of big models) and the
states they hold. The process group itself (``Processes``, ``start_processes``) is ``phi3v.processes``, which
evaluation joins too.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from contracts.errors import UserError
from phi3v.processes import Processes as Processes
from phi3v.processes import start_processes as start_processes
from phi3v.processes import stop_processes as stop_processes

# Small matmuls gain little from many threads.
AUTO_THREADS_CAP = 4


def idle_cores(window_s: float = 0.25) -> float | None:
    """Cores left idle by the whole machine over ``window_s`` (from /proc/stat), or None where unreadable."""

    def sample() -> tuple[int, int, int]:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
        total = [int(v) for v in lines[0].split()[1:]]
        cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
        return sum(total[:8]), total[3] + total[4], cpus  # user..steal; idle + iowait

    try:
        t0, i0, cpus = sample()
        time.sleep(window_s)
        t1, i1, _ = sample()
    except (OSError, ValueError, IndexError):
        return None
    return cpus * (i1 - i0) / (t1 - t0) if t1 > t0 else None


def cpu_threads(requested: int, procs: Processes) -> int:
    """Torch CPU threads for one training process: ``requested``, or for 0 the cores idle right now (at most
    ``AUTO_THREADS_CAP``) shared among this machine's processes, at least 1.

    Busy cores are not counted: threads on cores another job uses spin-wait at every small matmul, which
    slows a small model's steps several times over (docs/results.md).
    """
    if requested:
        return requested
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    idle = idle_cores()
    free = min(cores, int(idle + 0.3)) if idle is not None else cores
    local = int(os.environ.get("LOCAL_WORLD_SIZE", procs.world_size)) or 1
    return max(1, min(free, AUTO_THREADS_CAP) // local)


def wrap_model(
    model: nn.Module, procs: Processes, *, fsdp: bool, layer_classes: tuple[type, ...]
) -> nn.Module:
    """DDP (or FSDP when asked) around ``model`` for several processes; the model itself for one."""
    if not procs.distributed:
        return model
    if fsdp:
        if procs.device.type != "cuda":
            raise UserError("--fsdp needs CUDA GPUs: drop --fsdp for CPU runs (DDP is used instead)")
        from torch.distributed.fsdp import FullyShardedDataParallel, MixedPrecision
        from torch.distributed.fsdp.wrap import ModuleWrapPolicy

        return FullyShardedDataParallel(
            model,
            auto_wrap_policy=ModuleWrapPolicy(set(layer_classes)),
            mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32),
            device_id=procs.device,
            use_orig_params=True,  # names and requires_grad per parameter (frozen vision, LoRA)
        )
    from torch.nn.parallel import DistributedDataParallel

    ids = [procs.device.index] if procs.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def is_fsdp(model: nn.Module) -> bool:
    return type(model).__name__ == "FullyShardedDataParallel"


@contextlib.contextmanager
def no_sync(model: nn.Module, skip: bool) -> Iterator[None]:
    """Skip the gradient all-reduce of DDP/FSDP on accumulation micro-batches that are not the last."""
    if skip and hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters by name, full (gathered) on every process; for FSDP a collective call."""
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        return {k: v for k, v in full.items() if k in _clean_names(names)}
    return {n: p.detach() for n, p in unwrap(model).named_parameters() if p.requires_grad}


def _clean_names(names: set[str]) -> set[str]:
    return {n.replace("_fsdp_wrapped_module.", "").replace("module.", "", 1) for n in names}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy saved trainable parameters back; every trainable parameter must be present."""
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))
        return
    params = {n: p for n, p in unwrap(model).named_parameters() if p.requires_grad}
    copy_named(params, state, "trainable parameters")


def copy_named(targets: dict[str, torch.Tensor], state: dict[str, torch.Tensor], what: str) -> None:
    """Copy ``state[name]`` into each target (its device and dtype); every name must be in ``state``."""
    missing = sorted(set(targets) - set(state))
    if missing:
        raise UserError(f"the checkpoint lacks {what} ({missing[0]}, ...): it belongs to another run")
    with torch.no_grad():
        for name, t in targets.items():
            t.copy_(state[name].to(t.device, t.dtype))


def optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_optimizer_state_dict(model, optimizer, options=opts)
    return optimizer.state_dict()


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    if is_fsdp(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))
        return
    optimizer.load_state_dict(state)
