"""The micro-batch and activation checkpointing that fit the GPU's memory (``--fit-memory``).

A recipe asks for E = batch_size x grad_accum examples per optimizer step; that stays. The candidates are the
micro-batches m dividing E (accumulation E / m), without activation checkpointing, then with it (slower: each
layer's forward runs twice) only when micro-batch 1 does not fit without. A probe measures a candidate: one
forward and backward at micro-batch m on the training set's longest examples (the worst micro-batch the run
will see); its peak plus what the real step adds later (``reserve``: the optimizer's state, ...) must stay
under ``SAFETY`` of the device's memory, and running out of memory means no. Memory grows with m: from the
recipe's own micro-batch, the probes go down through the smaller divisors until one fits (halving, for powers
of two), or up while the larger ones fit: one or two probes when the recipe is right, one more per divisor it
is off.

``fit_to_memory`` is the stage a recipe names (``--fit-memory``): it probes the model before it is wrapped and
returns the settings with the chosen split. ``choose`` takes the probe as a function (the tests give it a
fake); ``CudaMemory`` reads the GPU's allocator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from contracts.errors import UserError
from finetune.checkpoint import capture_rng, restore_rng
from finetune.config import TrainConfig
from finetune.model import enable_checkpointing
from phi3v.processing import IGNORE_INDEX

# The part of the device's memory a step may take: the rest is for what max_memory_allocated does not count
# (the CUDA context, the caching allocator's fragmentation) and for what the estimate leaves out.
SAFETY = 0.9

# (micro_batch, checkpointing) -> peak bytes of one forward and backward; raises torch.cuda.OutOfMemoryError
Probe = Callable[[int, bool], int]


@dataclass(frozen=True)
class Fit:
    """The chosen split of a step, and what this process's probes measured."""

    micro_batch: int
    grad_accum: int
    checkpointing: bool
    capacity: int  # the device's memory, bytes
    needs: dict[tuple[int, bool], int | None] = field(default_factory=dict)  # bytes of a step; None: OOM

    @property
    def peak(self) -> int | None:
        """Bytes of the chosen step; None where another process's tighter choice was not probed here."""
        return self.needs.get((self.micro_batch, self.checkpointing))


def candidates(examples_per_step: int) -> list[tuple[int, bool]]:
    """Every (micro_batch, checkpointing), from the fastest to the leanest: the micro-batches that divide the
    step from the largest down, without checkpointing, then with it."""
    sizes = [m for m in range(examples_per_step, 0, -1) if examples_per_step % m == 0]
    return [(m, checkpointing) for checkpointing in (False, True) for m in sizes]


def _largest_fitting(sizes: list[int], first: int, fits: Callable[[int], bool]) -> int | None:
    """The largest of ``sizes`` (ascending) that ``fits``, probed from ``first`` down until one fits, or up
    while they fit (a size fits when a larger one does)."""
    i = sizes.index(first)
    if fits(sizes[i]):
        while i + 1 < len(sizes) and fits(sizes[i + 1]):
            i += 1
        return sizes[i]
    return next((size for size in reversed(sizes[:i]) if fits(size)), None)


def choose(
    examples_per_step: int,
    first: int,
    probe: Probe,
    capacity: int,
    reserve: int,
    agree: Callable[[int], int] = lambda index: index,
) -> Fit:
    """The fastest candidate whose step (``probe``'s peak + ``reserve`` bytes) fits ``SAFETY`` of
    ``capacity``; the probes start at micro-batch ``first``. Without checkpointing the probes come first, so
    the model's checkpointing only ever has to be turned on.

    ``agree`` maps this process's choice, an index in ``candidates`` (their number: nothing fits), to the one
    every process takes: the largest index, under several processes.

    Raises:
        UserError: not even micro-batch 1 with activation checkpointing fits (on some process).
    """
    limit = SAFETY * capacity
    needs: dict[tuple[int, bool], int | None] = {}

    def fits(micro_batch: int, checkpointing: bool) -> bool:
        try:
            need = probe(micro_batch, checkpointing) + reserve
        except torch.cuda.OutOfMemoryError:
            need = None  # handled here: once the block ends, no traceback holds the probe's tensors
        needs[(micro_batch, checkpointing)] = need
        return need is not None and need <= limit

    order = candidates(examples_per_step)
    sizes = sorted({m for m, _ in order})
    mine = len(order)
    for checkpointing in (False, True):
        m = _largest_fitting(sizes, first, lambda size, c=checkpointing: fits(size, c))
        if m is not None:
            mine = order.index((m, checkpointing))
            break
    agreed = agree(mine)
    if agreed == len(order):
        raise UserError(_nothing_fits(needs, capacity))
    micro_batch, checkpointing = order[agreed]
    return Fit(micro_batch, examples_per_step // micro_batch, checkpointing, capacity, needs)


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f}"


def _need(n: int | None) -> str:
    return "out of memory" if n is None else f"{_gib(n)} GiB"


def _nothing_fits(needs: dict[tuple[int, bool], int | None], capacity: int) -> str:
    if (1, True) not in needs:  # this process fitted something; another did not
        what = "does not fit on every process"
    else:
        what = "runs out of memory" if needs[(1, True)] is None else f"needs {_gib(needs[(1, True)])} GiB"
    return (
        f"out of GPU memory: even micro-batch 1 with activation checkpointing {what} (a step may use "
        f"{SAFETY:.0%} of {_gib(capacity)} GiB): try a smaller --num-crops, or --method qlora"
    )


def describe(fit: Fit) -> str:
    """One line: the choice and why, e.g. "memory fit: micro-batch 4 x accumulation 2 (8 per step), no
    activation checkpointing: peak 61.2 of 79.1 GiB (micro-batch 8: out of memory; a step may use 90%)"."""
    m, checkpointing = fit.micro_batch, fit.checkpointing
    step = m * fit.grad_accum
    mode = "activation checkpointing" if checkpointing else "no activation checkpointing"
    of = f"{_gib(fit.capacity)} GiB"
    usage = f"peak {_gib(fit.peak)} of {of}" if fit.peak is not None else f"what every process fits, of {of}"
    why = []
    larger = min((k for k in range(m + 1, step + 1) if step % k == 0), default=None)
    if (larger, checkpointing) in fit.needs:
        why.append(f"micro-batch {larger}: {_need(fit.needs[(larger, checkpointing)])}")
    if checkpointing and (1, False) in fit.needs:
        why.append(f"micro-batch 1 without checkpointing: {_need(fit.needs[(1, False)])}")
    why.append(f"a step may use {SAFETY:.0%}")
    return (
        f"memory fit: micro-batch {m} x accumulation {fit.grad_accum} ({step} per step), {mode}: {usage} "
        f"({'; '.join(why)})"
    )


def trainable_bytes(model: nn.Module) -> int:
    """Bytes of the trainable parameters: what each of AdamW's two states per parameter takes again."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


class CudaMemory:
    """The GPU's side of a probe: its memory, and the allocator's peak since the last ``clear``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.capacity = torch.cuda.get_device_properties(device).total_memory

    def clear(self) -> None:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        return torch.cuda.max_memory_allocated(self.device)


def device_memory(device: torch.device) -> CudaMemory | None:
    """What probes read on ``device``; None off CUDA, where nothing is fitted."""
    return CudaMemory(device) if device.type == "cuda" else None


def fit_to_memory(
    model: nn.Module,
    train_set: Any,
    cfg: TrainConfig,
    memory: CudaMemory,
    *,
    batch: Callable[[list[int]], dict[str, torch.Tensor]],
    loss_sum: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    fsdp: bool,
    procs: Any,
) -> tuple[TrainConfig, str]:
    """The stage ``--fit-memory``: ``cfg`` with the micro-batch, accumulation and checkpointing whose step
    fits the GPU, and the line that says so. ``model`` (unwrapped, built without checkpointing) is left with
    checkpointing on when the returned settings ask for it; its weights, gradients and the random numbers are
    left as they were.

    Args:
        train_set: the encoded training split (its ``lengths``: the probes take the longest examples).
        batch: the training micro-batch of the given example indices.
        loss_sum: the training loss (summed over answer tokens) of a batch.
        fsdp: the run shards the model with FSDP: nothing is probed (a whole model overstates a shard's
            memory several times over) and the recipe's values hold.
        procs: the processes, which agree on the tightest choice.

    Raises:
        UserError: not even micro-batch 1 with activation checkpointing fits.
    """
    if fsdp:
        if cfg.gradient_checkpointing:
            enable_checkpointing(model)
        kept = f"micro-batch {cfg.batch_size} x accumulation {cfg.grad_accum}" + (
            ", activation checkpointing" if cfg.gradient_checkpointing else ""
        )
        return cfg, f"memory fit: not under FSDP; the recipe's {kept}"
    lengths = train_set.lengths
    # the longest examples (the length the batches are grouped by): the worst micro-batch of the run
    longest = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    checkpointed = False  # the model was built without; the candidates with it come last

    def probe(micro_batch: int, checkpointing: bool) -> int:
        nonlocal checkpointed
        model.zero_grad(set_to_none=True)  # the last probe's gradients and cached blocks go first
        memory.clear()
        if checkpointing and not checkpointed:
            enable_checkpointing(model)
            checkpointed = True
        probed = batch(longest[:micro_batch])
        tokens = int((probed["labels"][:, 1:] != IGNORE_INDEX).sum())
        (loss_sum(model, probed) / max(1, tokens)).backward()
        return memory.peak()

    # The real step adds AdamW's two states per trainable parameter, --ema's average of them and, under
    # DDP, gradient buckets as large as the gradients (the probes run on the unwrapped model).
    reserve = trainable_bytes(model) * (2 + bool(cfg.ema) + procs.distributed)
    rng = capture_rng()  # dropout draws in the probes must not move the run's random numbers
    was_training = model.training
    model.train()
    try:
        fit = choose(
            cfg.batch_size * cfg.grad_accum,
            cfg.batch_size,
            probe,
            memory.capacity,
            reserve,
            agree=lambda index: int(procs.max(index)),
        )
    finally:
        model.zero_grad(set_to_none=True)
        memory.clear()
        model.train(was_training)
        restore_rng(*rng)
    if fit.checkpointing and not checkpointed:  # another process's tighter choice
        enable_checkpointing(model)
    fitted = dataclasses.replace(
        cfg, batch_size=fit.micro_batch, grad_accum=fit.grad_accum, gradient_checkpointing=fit.checkpointing
    )
    return fitted, describe(fit)
