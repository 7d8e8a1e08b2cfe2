"""Fine-tune Phi-3-Vision (or the tiny default) on a DATASET dir into a RUN dir.

    from finetune import from_recipe, train
    result = train(from_recipe("tiny-cpu", data="out/data", out="out/run"))

``train`` and ``TrainResult`` load lazily (they import torch); ``TrainConfig`` and ``from_recipe`` are light.
"""

from __future__ import annotations

from typing import Any

from finetune.config import TrainConfig
from finetune.settings import from_recipe

__all__ = ["TrainConfig", "TrainResult", "from_recipe", "train"]


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainResult"):
        from finetune import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")
