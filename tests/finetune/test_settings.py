"""Which value a run trains with (finetune.settings.decide): defaults < recipe < given flags, and on --resume
the saved run's settings, which a given flag may only repeat."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from contracts.errors import UserError
from finetune import cli
from finetune.config import TrainConfig, resolve
from finetune.recipe import read_recipe
from finetune.settings import decide

D = {"data": "d", "out": "o"}
RESUME = {**D, "resume": True}


def test_a_new_run_takes_defaults_then_recipe_then_given_flags():
    recipe = read_recipe("tiny-cpu")
    cfg = decide({**D, "lr": 5e-4, "epochs": 99}, recipe="tiny-cpu", given={"data", "out", "lr"})
    assert cfg.lr == 5e-4  # given: wins over the recipe
    assert cfg.epochs == recipe["epochs"]  # not given: the recipe's value, whatever the flag's default
    assert cfg.keep_last == TrainConfig(**D).keep_last  # in no recipe: TrainConfig's default
    assert cfg == resolve(cfg)  # resolved: what RUN/config.json records


def test_a_flag_equal_to_the_recipes_value_counts_as_given():
    """The saved run trained at lr 2e-3; `--lr 1e-3` (the recipe's value) on --resume is the user asking for
    another value: refused, where comparing values with the recipe would have let it pass silently."""
    recipe_lr = read_recipe("tiny-cpu")["lr"]
    saved = decide({**D, "lr": 2 * recipe_lr}, recipe="tiny-cpu", given={"data", "out", "lr"}).to_dict()
    with pytest.raises(UserError, match=f"--lr {recipe_lr!r} \\(the run used {2 * recipe_lr!r}\\)"):
        decide({**RESUME, "lr": recipe_lr}, recipe="tiny-cpu", given={*RESUME, "lr"}, saved=saved)
    # not given: the run's own value holds
    assert decide(RESUME, recipe="tiny-cpu", given=set(RESUME), saved=saved).lr == 2 * recipe_lr


def test_the_command_line_says_which_flags_were_given(monkeypatch, tmp_path):
    """click's parameter source: `--lr` typed with the recipe's value is given; a flag left out is not."""
    seen = {}

    def fake_train(cfg, given=None):
        seen.update(cfg=cfg, given=set(given))
        raise UserError("stop here")

    monkeypatch.setattr("finetune.loop.train", fake_train)
    recipe_lr = read_recipe("tiny-cpu")["lr"]
    args = ["--data", str(tmp_path), "--out", str(tmp_path / "run"), "--lr", str(recipe_lr)]
    result = CliRunner().invoke(cli.command, args)
    assert isinstance(result.exception, UserError) and str(result.exception) == "stop here"  # train ran
    assert {"data", "out", "lr"} <= seen["given"] and "epochs" not in seen["given"]
    assert "recipe" not in seen["given"] and seen["cfg"].lr == recipe_lr


def test_resume_takes_saved_values_and_refuses_conflicts():
    saved = resolve(TrainConfig(**D, max_steps=4, lr=1e-3)).to_dict()
    merged = decide({**RESUME, "quiet": True}, given={*RESUME, "quiet"}, saved=saved)
    assert (merged.max_steps, merged.lr, merged.resume, merged.quiet) == (4, 1e-3, True, True)
    # where the images are transformed changes no result: free to change on resume
    flags = {**RESUME, "pixel_memory_gib": 0}
    assert decide(flags, given=set(flags), saved=saved).pixel_memory_gib == 0
    # a flag repeating the run's value is fine; another value is refused, every one named in one line
    assert decide({**RESUME, "max_steps": 4}, given={*RESUME, "max_steps"}, saved=saved).max_steps == 4
    flags = {**RESUME, "max_steps": 9, "lr": 0.5}
    with pytest.raises(UserError, match=r"--max-steps 9 \(the run used 4\); --lr 0.5 \(the run used 0.001\)"):
        decide(flags, given=set(flags), saved=saved)
    # a run of a removed experiment cannot end where it would have: refused, not silently changed
    with pytest.raises(UserError, match="--token-noise, which this version no longer has"):
        decide(RESUME, given=set(RESUME), saved={**saved, "token_noise": 0.3})


def test_resume_refuses_another_best_metric_or_answer_subset():
    saved = resolve(TrainConfig(**D, eval_rows=8, best_metric="category_accuracy")).to_dict()
    assert decide(RESUME, given=set(RESUME), saved=saved).best_metric == "category_accuracy"
    flags = {**RESUME, "best_metric": "val_loss"}
    with pytest.raises(UserError, match="--best-metric 'val_loss' \\(the run used 'category_accuracy'\\)"):
        decide(flags, given=set(flags), saved=saved)
    flags = {**RESUME, "eval_rows": 16}
    with pytest.raises(UserError, match="--eval-rows 16 \\(the run used 8\\)"):
        decide(flags, given=set(flags), saved=saved)
    # a run saved before task metrics existed answered nothing and kept the lowest loss
    old = {k: v for k, v in saved.items() if k not in ("eval_rows", "best_metric")}
    cfg = decide(RESUME, recipe="tiny-cpu", given=set(RESUME), saved=old)
    assert (cfg.eval_rows, cfg.best_metric) == (0, "val_loss")


def test_resume_of_a_fitted_run_takes_its_split_from_the_flags_it_was_fitted_from():
    """--fit-memory split 8 examples per step as 2 x 4 with checkpointing: flags asking for 8 per step (the
    first invocation's) resume it as 2 x 4; other examples per step, or an unfitted run, conflict."""
    saved = TrainConfig(
        **D, batch_size=2, grad_accum=4, gradient_checkpointing=True, fit_memory=True
    ).to_dict()
    flags = {**RESUME, "batch_size": 4, "grad_accum": 2, "fit_memory": True}
    merged = decide(flags, given=set(flags), saved=saved)
    assert (merged.batch_size, merged.grad_accum, merged.gradient_checkpointing) == (2, 4, True)
    with pytest.raises(UserError, match="--batch-size 16"):
        decide({**flags, "batch_size": 16}, given=set(flags), saved=saved)
    with pytest.raises(UserError, match="--batch-size 4 .*--grad-accum 2"):
        decide(flags, given=set(flags), saved={**saved, "fit_memory": False})


def test_a_run_saved_before_fit_memory_existed_resumes_without_fitting():
    saved = resolve(TrainConfig(**D, batch_size=4)).to_dict()
    del saved["fit_memory"]
    cfg = decide(RESUME, given=set(RESUME), saved=saved)
    assert (cfg.fit_memory, cfg.batch_size) == (False, 4)


def test_a_library_call_gives_the_values_that_are_not_the_recipes():
    """train(cfg) without `given` (no command line to ask): a value other than the recipe's is given, one
    equal to it takes the saved run's."""
    saved = resolve(TrainConfig(**D, max_steps=4, ema=0.9)).to_dict()
    assert decide({**saved, "resume": True}, saved=saved).max_steps == 4
    new = TrainConfig(data="d2", out="o2", max_steps=3).to_dict()
    assert (decide(new).data, decide(new).out, decide(new).max_steps) == ("d2", "o2", 3)
    fresh = TrainConfig(**D, resume=True).to_dict()  # every field at its default
    assert (decide(fresh, saved=saved).ema, decide(fresh, saved=saved).max_steps) == (0.9, 4)
    with pytest.raises(UserError, match="--max-steps 5"):
        decide({**fresh, "max_steps": 5}, saved=saved)
