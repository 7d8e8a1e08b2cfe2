"""TrainConfig validation, the defaults that follow from the method, and the --resume merge."""

from __future__ import annotations

import dataclasses

import pytest

from contracts.errors import UserError
from finetune.config import TrainConfig, merge_for_resume, resolve


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


def test_resume_takes_saved_values_and_refuses_conflicts():
    """Flags left at their default take the saved run's value; a different explicit value is refused."""
    saved = resolve(TrainConfig(data="d", out="o", max_steps=4, lr=1e-3)).to_dict()
    base = TrainConfig(data="d", out="o")
    merged = merge_for_resume(saved, TrainConfig(data="d", out="o", resume=True, quiet=True), base)
    assert (merged.max_steps, merged.lr, merged.resume, merged.quiet) == (4, 1e-3, True, True)
    # where the images are transformed changes no result: free to change on resume
    assert (
        merge_for_resume(
            saved, TrainConfig(data="d", out="o", resume=True, pixel_memory_gib=0), base
        ).pixel_memory_gib
        == 0
    )
    with pytest.raises(UserError, match="--max-steps 9"):
        merge_for_resume(saved, TrainConfig(data="d", out="o", resume=True, max_steps=9), base)
    # a run of a removed experiment cannot end where it would have: refused, not silently changed
    with pytest.raises(UserError, match="--token-noise, which this version no longer has"):
        merge_for_resume({**saved, "token_noise": 0.3}, TrainConfig(data="d", out="o", resume=True), base)


def test_every_field_has_help():
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f.name


def test_resume_of_a_fitted_run_takes_its_split_from_the_flags_it_was_fitted_from():
    """--fit-memory split 8 examples per step as 2 x 4 with checkpointing: flags asking for 8 per step (the
    first invocation's) resume it as 2 x 4; other examples per step, or an unfitted run, conflict."""
    saved = TrainConfig(
        data="d", out="o", batch_size=2, grad_accum=4, gradient_checkpointing=True, fit_memory=True
    ).to_dict()
    base = TrainConfig(data="d", out="o", fit_memory=True)
    flags = TrainConfig(data="d", out="o", resume=True, batch_size=4, grad_accum=2, fit_memory=True)
    merged = merge_for_resume(saved, flags, base)
    assert (merged.batch_size, merged.grad_accum, merged.gradient_checkpointing) == (2, 4, True)
    with pytest.raises(UserError, match="--batch-size 16"):
        merge_for_resume(saved, dataclasses.replace(flags, batch_size=16), base)
    with pytest.raises(UserError, match="--batch-size 4 .*--grad-accum 2"):
        merge_for_resume({**saved, "fit_memory": False}, flags, dataclasses.replace(base, fit_memory=False))


def test_a_run_saved_before_fit_memory_existed_resumes_without_fitting():
    saved = resolve(TrainConfig(data="d", out="o", batch_size=4)).to_dict()
    del saved["fit_memory"]
    base = TrainConfig(data="d", out="o", fit_memory=True)  # a recipe that asks for it now
    merged = merge_for_resume(saved, TrainConfig(data="d", out="o", resume=True, fit_memory=True), base)
    assert (merged.fit_memory, merged.batch_size) == (False, 4)
