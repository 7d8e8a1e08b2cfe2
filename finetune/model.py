"""The model a run trains: loaded or built as ``--model`` names it, with its method applied (full fine-tuning,
LoRA or QLoRA), and what MFU needs to know of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from contracts.errors import UserError
from contracts.task import QUESTION, answers_of
from finetune import flops, lora
from finetune.config import TrainConfig
from phi3v.loading import load_model
from phi3v.presets import PRESETS


@dataclass
class ModelFlops:
    """What MFU needs: the model's shape and how each part trains (``finetune.flops``), and FSDP's units."""

    shape: flops.ModelShape
    modes: flops.MethodModes
    params: int
    layer_classes: tuple[type, ...]  # FSDP wraps each of these

    def batch(self, batch: dict[str, torch.Tensor], crop_size: int) -> float:
        """Model FLOPs of one collated micro-batch (padding excluded)."""
        tokens = flops.batch_sample_tokens(batch, crop_size)
        return sum(flops.training_flops(self.shape, t, self.modes).total for t in tokens)


def check_method(cfg: TrainConfig) -> None:
    """Refuse an unknown model spec, or QLoRA where it cannot run, before anything is written.

    Raises:
        UserError: naming the flag and the fix.
    """
    spec = cfg.model
    if not (spec in PRESETS or Path(spec).expanduser().is_dir() or re.fullmatch(r"[\w.-]+/[\w.-]+", spec)):
        raise UserError(
            f"--model {spec!r} is no preset ({', '.join(PRESETS)}), model dir or hub id (owner/name)"
        )
    if cfg.method == "qlora":
        lora.check_qlora_possible()


def build_model(
    cfg: TrainConfig, train_frame: pd.DataFrame, device: torch.device
) -> tuple[nn.Module, Any, ModelFlops]:
    """Load the model and processor, apply the method (full / LoRA / QLoRA), move to ``device``."""
    # texts a preset's own tokenizer is trained on (a preset with a fixed vocabulary ignores them)
    corpus = tokenizer_corpus(train_frame)
    # LoRA keeps the frozen base in bf16 on GPUs; full fine-tuning keeps fp32 master weights (autocast
    # computes in bf16)
    dtype = torch.bfloat16 if cfg.method in ("lora", "qlora") and device.type == "cuda" else torch.float32
    model, processor = load_model(
        cfg.model,
        dtype=dtype,
        device=None if cfg.method == "qlora" else device,
        attn_implementation=cfg.attn_implementation,
        seed=cfg.seed,
        corpus=corpus,
        overrides=model_overrides(cfg),
    )
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        enable_checkpointing(model)
    if cfg.method == "full":
        lora.freeze_for_full(model, bool(cfg.freeze_vision))
    else:
        if cfg.method == "qlora":
            model = lora.quantize_4bit(model, device)
        model = lora.apply_lora(model, cfg, under_autocast=cfg.computes_in_bf16(device.type))
    return model, processor, _flops(model, cfg)


def enable_checkpointing(model: nn.Module) -> None:
    """Recompute each layer's activations in its backward pass. Non-reentrant: the frozen inputs of LoRA
    layers need no gradient. Before or after LoRA or 4-bit layers are put in (inside the layers), the same."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:  # transformers releases before the rename
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def tokenizer_corpus(frame: pd.DataFrame) -> list[str]:
    """Texts a preset's own tokenizer is trained on: titles, categories, and each training conversation's
    question and answer (so the prompt every example carries is 7 tokens rather than 18)."""
    answers = answers_of(frame)
    return [
        *map(str, frame["title"]),
        *map(str, frame["category3_code"]),
        *answers,
        *[QUESTION] * len(answers),
    ]


def model_overrides(cfg: TrainConfig) -> dict[str, Any]:
    """``load_model`` overrides from the flags: ``--num-crops`` and ``--dropout``."""
    overrides: dict[str, Any] = {}
    if cfg.num_crops:
        overrides["num_crops"] = cfg.num_crops
    if cfg.dropout is not None:
        overrides["resid_pdrop"] = cfg.dropout
    return overrides


def _flops(model: nn.Module, cfg: TrainConfig) -> ModelFlops:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    modes = flops.method_modes(
        "full" if cfg.method == "full" else "lora",
        freeze_vision=bool(cfg.freeze_vision),
        lora_rank=cfg.lora_rank if cfg.method != "full" else 0,
        lora_targets=tuple(cfg.lora_target_list()),
    )
    wanted = set(getattr(base, "_no_split_modules", None) or ())
    classes = {type(m) for m in model.modules() if type(m).__name__ in wanted}
    params = sum(p.numel() for p in model.parameters())
    return ModelFlops(flops.shape_from_config(base.config), modes, params, tuple(classes))
