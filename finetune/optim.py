"""TODO docstring."""

from __future__ import annotations

import math

import torch
from torch import nn

from finetune import lora
from finetune.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; no weight decay on norms, biases, the text embedding and separators; the image encoder's CLIP
    tower at ``lr * vision_lr_ratio``, everything else (the projection and separators included) at ``lr``;
    fused kernels on CUDA and CPU (on CPU a fifth of the per-tensor loop's time for the tiny default)."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # the text embedding is a lookup table; the vision tower's patch/position embeddings are weights
        plain = p.ndim < 2 or name.endswith(("embed_tokens.weight", "_GN"))
        groups.setdefault((plain, lora.VISION_TOWER_PREFIX in name), []).append(
            p
        )  # DDP names start "module."
    ratio = cfg.vision_lr_ratio or 1.0
    param_groups = [
        {
            "params": params,
            "weight_decay": 0.0 if plain else cfg.weight_decay,
            "lr": cfg.lr * (ratio if vision else 1.0),
        }
        for (plain, vision), params in sorted(groups.items())
    ]
    fused = device.type in ("cuda", "cpu") or None
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, 0.95), fused=fused)


def lr_factor(step: int, *, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``floor`` at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int):
    warmup = min(cfg.warmup_steps, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup=warmup, total=total, floor=cfg.min_lr_ratio)
    )
