"""Fine-tune Phi-3-Vision (or the tiny default) on a DATASET dir: ``train(TrainConfig(data=..., out=...))``.

``train`` and ``TrainResult`` load lazily: ``finetune.chat`` is imported by evaluation and must stay light.
"""

from __future__ import annotations

from typing import Any

from finetune.config import TrainConfig

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainResult"):
        from finetune import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'finetune' has no attribute {name!r}")
