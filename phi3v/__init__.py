"""Phi-3-Vision, native: the model below both ``finetune`` and ``evaluation``.

    configuration, vision, modeling   the model (Phi-3 and CLIP blocks of transformers, no remote code)
    processing, tokenizer, chat       the processor, the offline tiny tokenizer, the chat format
    export_format                     saved models in the published checkpoint's form
    presets, loading                  named models; building or loading one (a preset, a model dir, a hub id)
    generate                          batched greedy generation, for evaluation and training samples alike
    processes                         one process or several under torchrun, each with its device

Importing ``phi3v.configuration`` and ``phi3v.modeling`` registers ``phi3_v`` with transformers' Auto
classes, so ``AutoConfig`` and ``AutoModelForCausalLM`` resolve the hub's config.json to these classes
without remote code. The package itself imports nothing heavy: its names load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Phi3VConfig": "configuration",
    "Phi3VForCausalLM": "modeling",
    "Phi3VModel": "modeling",
    "Phi3VImageProcessor": "processing",
    "Phi3VProcessor": "processing",
    "build_tiny_tokenizer": "tokenizer",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"phi3v.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'phi3v' has no attribute {name!r}")
