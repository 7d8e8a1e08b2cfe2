"""An exponential moving average of the trainable parameters (``--ema DECAY``), bias-corrected.

After optimizer step t the average holds sum_i DECAY^(t-i) w_i / sum_i DECAY^(t-i) over the weights w_1..w_t
of the steps so far: it moves a ``(1 - DECAY) / (1 - DECAY^t)`` part of the way to the weights (all of it at
the first step), the zero-started average divided by ``1 - DECAY^t`` as Adam corrects its moments. Without the
correction the weights before training keep a DECAY^t share (5% after 3,040 steps at 0.999, most of the
average in a short run). Validation, the best checkpoint, sample predictions and the exported model use the
averaged weights; training goes on with the raw ones. The average is saved in every checkpoint and the step
count comes from the trainer, so ``--resume`` ends where an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from finetune.distributed import copy_named


class WeightAverage:
    """The average of ``model``'s trainable parameters (a plain or DDP-unwrapped module)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.shadow = {n: p.detach().clone() for n, p in self.params.items()}

    def weight(self, step: int) -> float:
        """The part of the way to the weights the average moves at optimizer step ``step`` (from 1)."""
        return (1 - self.decay) / (1 - self.decay**step)

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after optimizer step ``step`` (1 for the first)."""
        torch._foreach_lerp_(
            list(self.shadow.values()), [p.detach() for p in self.params.values()], self.weight(step)
        )

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for name, p in self.params.items():
            p.copy_(self.shadow[name])

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones again after it."""
        raw = {n: p.detach().clone() for n, p in self.params.items()}
        self.copy_to_model()
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(raw[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        copy_named(self.shadow, state, "weight-average tensors")
