"""Batch encoded examples with dynamic padding; the loss sees only the answer.

The processor encodes one example at a time (``input_ids`` with -1 image placeholders, ``labels`` that are
-100 outside the answer, ``pixel_values`` of shape (crops, 3, c, c), ``image_sizes``). The collator pads to
the longest example of the batch (right padding: positions stay 0..n-1 for every real token) and makes sure
labels are -100 on padding and image placeholders, whatever the example said: a mask that silently lets those
through shows up as a loss of exactly 0 on placeholders, or as the model learning to predict padding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from phi3v.processing import IGNORE_INDEX


def collate_examples(
    examples: Sequence[dict[str, torch.Tensor]], pad_token_id: int
) -> dict[str, torch.Tensor]:
    """Pad and stack examples into a batch.

    Args:
        examples: dicts with 1-D ``input_ids`` and ``labels`` (same length), ``pixel_values`` (crops, 3, c, c)
            and ``image_sizes`` (2,).
        pad_token_id: id written into padded positions of ``input_ids`` (never seen by the loss).

    Returns:
        ``input_ids``, ``attention_mask``, ``labels`` of shape (B, T); ``pixel_values`` (B, crops, 3, c, c),
        padded with blank crops where examples differ; ``image_sizes`` (B, 2).
    """
    if not examples:
        raise ValueError("cannot collate an empty batch")
    longest = max(int(e["input_ids"].shape[0]) for e in examples)
    batch = len(examples)
    input_ids = torch.full((batch, longest), pad_token_id, dtype=torch.long)
    labels = torch.full((batch, longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((batch, longest), dtype=torch.long)
    for i, example in enumerate(examples):
        ids, lab = example["input_ids"], example["labels"]
        if ids.shape != lab.shape:
            raise ValueError(
                f"example {i}: input_ids {tuple(ids.shape)} and labels {tuple(lab.shape)} differ"
            )
        n = ids.shape[0]
        input_ids[i, :n] = ids
        labels[i, :n] = lab
        attention_mask[i, :n] = 1
    # Image placeholders (negative ids) and padding never carry a label.
    labels[(input_ids < 0) | (attention_mask == 0)] = IGNORE_INDEX
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        "pixel_values": _stack_crops([e["pixel_values"] for e in examples]),
        "image_sizes": torch.stack([torch.as_tensor(e["image_sizes"], dtype=torch.long) for e in examples]),
    }


def _stack_crops(pixel_values: list[torch.Tensor]) -> torch.Tensor:
    most = max(p.shape[0] for p in pixel_values)
    if all(p.shape[0] == most for p in pixel_values):
        return torch.stack(pixel_values)
    out = pixel_values[0].new_zeros((len(pixel_values), most, *pixel_values[0].shape[1:]))
    for i, p in enumerate(pixel_values):
        out[i, : p.shape[0]] = p
    return out
