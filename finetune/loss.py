"""The training loss: cross-entropy summed over the answer tokens, the head run on those rows only."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from finetune.collate import IGNORE_INDEX


def answer_loss_sum(
    model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, bf16: bool
) -> torch.Tensor:
    """Cross-entropy summed over the answer tokens of a collated ``batch`` (host tensors; labels shifted by
    one: token t predicts t + 1), computed on ``device`` under bf16 autocast when ``bf16``.

    The head runs on the answer positions only (``logits_on_labels_only``): a few dozen of ~2,560 rows for
    the full model, whose (batch, length, 32,064) logits would otherwise be built and sliced. What can be
    read on the host is read there (image sizes, the targets), so the step waits on the device less.
    """
    inputs = {
        k: v if k == "image_sizes" else v.to(device, non_blocking=True)
        for k, v in batch.items()
        if k != "labels"
    }
    labels = batch["labels"].to(device, non_blocking=True)
    shifted = batch["labels"][:, 1:]
    # the model's rows are the labelled positions in row-major order, as this mask lists them
    targets = shifted[shifted != IGNORE_INDEX].to(device, non_blocking=True)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        logits = model(**inputs, labels=labels, logits_on_labels_only=True, use_cache=False).logits
    return F.cross_entropy(logits.float(), targets, reduction="sum")
