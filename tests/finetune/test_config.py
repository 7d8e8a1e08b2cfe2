"""TrainConfig validation and the defaults that follow from the method (the merge: test_settings)."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.errors import UserError
from finetune.config import TrainConfig, resolve


def test_resolve_fills_what_follows_from_the_method():
    """LoRA freezes the image encoder unless told not to, full fine-tuning trains it; alpha is 2 x rank."""
    full = resolve(TrainConfig(data="d", out="o", method="full"))
    assert (full.freeze_vision, full.lora_alpha) == (False, 128.0)
    lora = resolve(TrainConfig(data="d", out="o", method="lora", lora_rank=8))
    assert (lora.freeze_vision, lora.lora_alpha) == (True, 16.0)
    assert resolve(TrainConfig(data="d", out="o", method="lora", freeze_vision=False)).freeze_vision is False


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"batch_size": 0}, "--batch-size"),
        ({"lr": -1.0}, "--lr"),
        ({"num_crops": 0}, "--num-crops"),
        ({"pixel_memory_gib": -1.0}, "--pixel-memory-gib"),
        ({"pixel_memory_gib": float("inf")}, "--pixel-memory-gib"),
        ({"lora_targets": " , "}, "--lora-targets"),
        ({"method": "prefix"}, "--method"),
        ({"resume": True, "overwrite": True}, "--resume"),
    ],
)
def test_bad_values_name_their_flag(changes, flag):
    with pytest.raises(UserError, match=flag):
        TrainConfig(data="d", out="o", **changes)


def test_every_field_has_help():
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f.name


def test_best_metric_names_a_metric_and_needs_answers():
    with pytest.raises(UserError, match="--best-metric 'accuracy' is no metric: choose one of val_loss, "):
        TrainConfig(data="d", out="o", best_metric="accuracy")
    with pytest.raises(UserError, match="--eval-rows 0 turns off"):
        resolve(TrainConfig(data="d", out="o", best_metric="category_accuracy", eval_rows=0))
    assert (
        resolve(TrainConfig(data="d", out="o", best_metric="category_accuracy", eval_rows=4)).eval_rows == 4
    )
