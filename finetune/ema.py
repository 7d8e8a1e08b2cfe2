"""An exponential moving average of the trainable parameters (``--ema DECAY``).

After each optimizer step the average moves a ``1 - DECAY`` part of the way to the weights. Validation, the
best checkpoint, sample predictions and the exported model use the averaged weights; training goes on with the
raw ones. The average is saved in every checkpoint, so ``--resume`` ends where an uninterrupted run would.
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

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(
            list(self.shadow.values()), [p.detach() for p in self.params.values()], 1 - self.decay
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
