"""Sample predictions at each validation: greedy answers for the first validation images, decoded by
``phi3v.generate.generate_answers`` (the same batched path as ``evaluate``), for the W&B table and
samples.jsonl."""

from __future__ import annotations

from typing import Any

import pandas as pd
from torch import nn

from contracts.dataset.reader import IMAGE_PATH, load_image
from contracts.task import build_answer
from finetune.config import TrainConfig
from finetune.tracking import Sample
from phi3v.generate import generate_answers

MAX_ANSWER_TOKENS = 96


def sample_predictions(
    model: nn.Module, processor: Any, frame: pd.DataFrame, cfg: TrainConfig
) -> list[Sample]:
    """Greedy answers for the first ``cfg.sample_predictions`` rows of ``frame`` (the W&B table of the
    reference recipe), all in one batch; the model is put back in the mode it was in."""
    rows = frame.head(cfg.sample_predictions)
    if len(rows) == 0:
        return []
    images = [load_image(path) for path in rows[IMAGE_PATH]]
    was_training = model.training
    model.eval()
    try:
        result = generate_answers(
            model, processor, images, batch_size=len(images), max_new_tokens=MAX_ANSWER_TOKENS
        )
    finally:
        model.train(was_training)
    samples = []
    for image, text, (_, row) in zip(images, result.texts, rows.iterrows(), strict=True):
        thumb = image.copy()
        thumb.thumbnail((256, 256))
        samples.append(
            Sample(
                image=thumb,
                target=build_answer(row["title"], row["category3_code"], row["full_price"]),
                prediction=text,
                file_name=str(row["file_name"]),
            )
        )
    return samples
