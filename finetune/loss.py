"""The training loss: cross-entropy summed over the answer tokens, the head run on those rows only."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from phi3v.processing import IGNORE_INDEX


def answer_loss_sum(
    model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device, bf16: bool
) -> torch.Tensor:
    """Cross-entropy summed over the answer tokens of a collated ``batch`` (host tensors; labels shifted by
    one: token t predicts t + 1), computed on ``device`` under bf16 autocast when ``bf16``.

    The head runs on the answer positions only (``label_rows``): a few dozen of ~2,560 rows for the full
    model, whose (batch, length, 32,064) logits would otherwise be built and sliced. The positions, the
    targets and the image sizes are read on the host, so the step never waits on the device for them.
    """
    labels = batch["labels"][:, 1:]  # position t predicts token t + 1
    keep = labels != IGNORE_INDEX
    last = keep.new_zeros(len(keep), 1)  # the last position predicts nothing
    rows = torch.cat([keep, last], dim=1).flatten().nonzero().squeeze(1)  # flat positions, row-major
    targets = labels[keep]
    if device.type == "cuda":
        rows, targets = rows.pin_memory(), targets.pin_memory()
    inputs = {
        k: v if k == "image_sizes" else v.to(device, non_blocking=True)
        for k, v in batch.items()
        if k != "labels"
    }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        logits = model(**inputs, label_rows=rows.to(device, non_blocking=True), use_cache=False).logits
    return F.cross_entropy(logits.float(), targets.to(device, non_blocking=True), reduction="sum")
