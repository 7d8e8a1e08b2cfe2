"""TODO docstring."""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from torch import nn

from contracts.dataset.reader import IMAGE_PATH, load_image
from contracts.task import build_answer
from finetune.config import TrainConfig
from finetune.tracking import Sample

MAX_ANSWER_TOKENS = 96


@torch.no_grad()
def sample_predictions(
    model: nn.Module, processor: Any, frame: pd.DataFrame, cfg: TrainConfig, device: torch.device
) -> list[Sample]:
    """Greedy answers for the first validation images (the W&B table of the reference recipe)."""
    was_training = model.training
    model.eval()
    samples = []
    for _, row in frame.head(cfg.sample_predictions).iterrows():
        image = load_image(row[IMAGE_PATH])
        enc = processor.encode_example(image, None)
        ids = enc["input_ids"][None].to(device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=enc["pixel_values"][None].to(device),
            image_sizes=enc["image_sizes"][None].to(device),
            max_new_tokens=MAX_ANSWER_TOKENS,
            do_sample=False,
            use_cache=True,
        )
        thumb = image.copy()
        thumb.thumbnail((256, 256))
        samples.append(
            Sample(
                image=thumb,
                target=build_answer(row["title"], row["category3_code"], row["full_price"]),
                prediction=processor.decode_answer(out[0, ids.shape[1] :]),
                file_name=str(row["file_name"]),
            )
        )
    model.train(was_training)
    return samples
