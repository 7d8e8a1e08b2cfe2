"""TrainConfig validation, model-dependent defaults and the --resume merge."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.errors import UserError
from finetune.config import TrainConfig, merge_for_resume, resolve


def test_resolve_fills_model_dependent_defaults():
    """Tiny trains everything from scratch; a pretrained model gets LoRA with a frozen vision tower."""
    tiny = resolve(TrainConfig(data="d", out="o"))
    assert (tiny.method, tiny.freeze_vision, tiny.lora_alpha) == ("full", False, 128.0)
    assert tiny.vision_lr_ratio < 1.0 and tiny.epochs > 2
    big = resolve(TrainConfig(data="d", out="o", model="phi3v"))
    assert (big.method, big.freeze_vision, big.lr, big.vision_lr_ratio) == ("lora", True, 2e-4, 1.0)


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


def test_resume_takes_saved_values_and_refuses_conflicts():
    """Flags left at their default take the saved run's value; a different explicit value is refused."""
    saved = resolve(TrainConfig(data="d", out="o", max_steps=4, lr=1e-3)).to_dict()
    merged = merge_for_resume(saved, TrainConfig(data="d", out="o", resume=True, quiet=True))
    assert (merged.max_steps, merged.lr, merged.resume, merged.quiet) == (4, 1e-3, True, True)
    # where the images are transformed changes no result: free to change on resume
    assert (
        merge_for_resume(
            saved, TrainConfig(data="d", out="o", resume=True, pixel_memory_gib=0)
        ).pixel_memory_gib
        == 0
    )
    with pytest.raises(UserError, match="--max-steps 9"):
        merge_for_resume(saved, TrainConfig(data="d", out="o", resume=True, max_steps=9))


def test_every_field_has_help():
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f.name
