"""--ema: the weight average's arithmetic, what it is used for, and --resume with it."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from contracts import run_layout as names
from contracts.errors import UserError
from finetune.checkpoint import latest_checkpoint, load_checkpoint
from finetune.config import TrainConfig, resolve
from finetune.ema import WeightAverage
from finetune.loop import train
from finetune.settings import decide, from_recipe
from finetune.tracking import read_metrics


def test_average_follows_the_closed_form_and_skips_frozen_weights():
    """After step t the average is sum_i d^(t-i) w_i / sum_i d^(t-i): the start weights carry no share."""
    model = nn.Linear(3, 2)
    model.bias.requires_grad_(False)
    ema = WeightAverage(model, 0.9)
    assert set(ema.state_dict()) == {"weight"}
    seen = []
    for step, value in enumerate((1.0, -2.0, 5.0), start=1):
        with torch.no_grad():
            model.weight.fill_(value)
        seen.append(value)
        ema.update(step)
        shares = [0.9 ** (step - i) for i in range(1, step + 1)]
        expected = sum(s * v for s, v in zip(shares, seen, strict=True)) / sum(shares)
        torch.testing.assert_close(ema.shadow["weight"], torch.full((2, 3), expected))
    assert ema.weight(1) == pytest.approx(1.0)  # the first step replaces the start weights
    assert ema.weight(10_000) == pytest.approx(0.1)  # later steps move (1 - decay) of the way


def test_applied_swaps_the_average_in_and_back_out():
    model = nn.Linear(2, 2)
    ema = WeightAverage(model, 0.5)
    before = model.weight.detach().clone()
    ema.update(1)
    with torch.no_grad():
        model.weight.add_(3.0)
    raw = model.weight.detach().clone()
    ema.update(2)  # shares 0.5 : 1 for the weights of steps 1 and 2
    with ema.applied():
        torch.testing.assert_close(model.weight, before + 2.0)
    torch.testing.assert_close(model.weight, raw)


def test_flag_range_and_foreign_state_are_refused():
    with pytest.raises(UserError, match="--ema must lie in"):
        TrainConfig(data="d", out="o", ema=1.0)
    with pytest.raises(UserError, match="--ema does not work with FSDP"):
        resolve(TrainConfig(data="d", out="o", ema=0.9, fsdp=True))
    ema = WeightAverage(nn.Linear(2, 2), 0.5)
    with pytest.raises(UserError, match="another run"):
        ema.load_state_dict({"other": torch.zeros(2)})


def test_only_the_tiny_recipe_averages_the_weights():
    """The tiny-cpu recipe keeps an average; the GPU recipes and TrainConfig's own default do not."""
    assert from_recipe("tiny-cpu", data="d", out="o").ema == 0.999
    assert from_recipe("tiny-cpu", data="d", out="o", ema=0.0).ema == 0.0
    for recipe in ("phi3v-lora", "phi3v-qlora", "phi3v-full"):
        assert from_recipe(recipe, data="d", out="o").ema == 0.0
    assert TrainConfig(data="d", out="o").ema == 0.0


def test_a_run_saved_before_the_flag_existed_resumes_without_the_average():
    base = from_recipe("tiny-cpu", data="d", out="o")
    saved = {k: v for k, v in resolve(base).to_dict().items() if k != "ema"}
    flags = {"data": "d", "out": "o", "resume": True}
    assert decide(flags, recipe="tiny-cpu", given=flags, saved=saved).ema == 0.0
    with pytest.raises(UserError, match="--ema 0.9"):
        decide({**flags, "ema": 0.9}, recipe="tiny-cpu", given={*flags, "ema"}, saved=saved)


@pytest.mark.slow
def test_resume_with_ema_ends_like_the_whole_run_and_exports_the_average(fast_config):
    whole = train(fast_config("whole", eval_every=2, ema=0.9))
    first = train(fast_config("parts", eval_every=2, stop_after=2, ema=0.9))
    saved = load_checkpoint(latest_checkpoint(first.run_dir))
    assert saved.ema is not None and saved.ema.keys() == saved.trainable.keys()
    # the average lags the raw weights
    assert any(not torch.equal(saved.ema[k], saved.trainable[k]) for k in saved.ema)
    second = train(fast_config("parts", resume=True))
    a, b = read_metrics(whole.run_dir), read_metrics(second.run_dir)
    torch.testing.assert_close([r["loss"] for r in a], [r["loss"] for r in b])
    wa = load_file(whole.run_dir / names.MODEL_DIR / "model.safetensors")
    wb = load_file(second.run_dir / names.MODEL_DIR / "model.safetensors")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key])
    # without the average, the same run exports other weights and measures another validation loss
    plain = train(fast_config("plain", eval_every=2, ema=0.0))
    wp = load_file(plain.run_dir / names.MODEL_DIR / "model.safetensors")
    assert any(not torch.equal(wa[k], wp[k]) for k in wa)
    assert whole.final_val_loss != pytest.approx(plain.final_val_loss, rel=1e-6)
