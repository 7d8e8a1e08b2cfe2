"""Recipes as data: every shipped recipe builds, flags override a recipe, a RUN dir's recipe reruns it."""

from __future__ import annotations

import dataclasses

import pytest

from contracts import run_layout as names
from contracts.errors import UserError
from finetune.config import DEFAULT_RECIPE, resolve
from finetune.model import model_overrides
from finetune.recipe import RECIPE_FIELDS, read_recipe, recipe_names
from finetune.settings import from_recipe
from phi3v.presets import PRESETS, build_config


@pytest.mark.parametrize("name", recipe_names())
def test_every_shipped_recipe_builds_and_names_a_preset(name):
    """Each recipe resolves to a valid config whose model is a preset; the preset's config builds."""
    cfg = resolve(from_recipe(name, data="d", out="o"))
    assert cfg.recipe == name and cfg.model in PRESETS
    build_config(cfg.model)


def test_the_shipped_recipes_are_the_expected_ones():
    assert recipe_names() == ["phi3v-full", "phi3v-lora", "phi3v-qlora", "tiny-cpu"]
    assert DEFAULT_RECIPE == "tiny-cpu"
    methods = {name: from_recipe(name, data="d", out="o").method for name in recipe_names()}
    assert methods == {"phi3v-full": "full", "phi3v-lora": "lora", "phi3v-qlora": "qlora", "tiny-cpu": "full"}


def test_the_gpu_recipes_fit_the_micro_batch_to_the_gpu():
    """The phi3v recipes choose micro-batch and checkpointing for the GPU; the CPU default keeps its own."""
    fits = {name: from_recipe(name, data="d", out="o").fit_memory for name in recipe_names()}
    assert fits == {"phi3v-full": True, "phi3v-lora": True, "phi3v-qlora": True, "tiny-cpu": False}
    assert from_recipe("phi3v-lora", data="d", out="o", fit_memory=False).fit_memory is False


def test_the_tiny_preset_is_the_model_the_default_recipe_trains():
    """No size overrides between the preset and the default recipe's run: load_model('tiny') is that model
    (the recipe sets training settings only, such as dropout)."""
    cfg = from_recipe(DEFAULT_RECIPE, data="d", out="o")
    assert cfg.model == "tiny" and cfg.num_crops is None
    assert set(model_overrides(cfg)) <= {"resid_pdrop"}


def test_flags_override_the_recipe_and_recipe_values_override_defaults():
    base = from_recipe("tiny-cpu", data="d", out="o")
    assert (base.lr, base.epochs, base.encoder_warmup, base.mirror) == (1e-3, 10.0, 80, True)
    flagged = from_recipe("tiny-cpu", data="d", out="o", epochs=3, mirror=False)
    assert (flagged.epochs, flagged.mirror, flagged.lr) == (3, False, 1e-3)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("lr: 1e-3\nwarp: 9\n", "'warp' is no training field"),
        ("data: somewhere\n", "'data' is given per run"),
        ("- lr\n", "must map field names to values"),
        ("lr: [1\n", "cannot read recipe"),
        ("lr: -1\n", "--lr must be a positive number"),
    ],
)
def test_a_bad_recipe_file_is_one_clear_error(tmp_path, text, match):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        from_recipe(str(path), data="d", out="o")


def test_unknown_recipe_names_the_choices():
    with pytest.raises(UserError, match="no such recipe; choose one of phi3v-full"):
        read_recipe("huge")
    with pytest.raises(UserError, match="no such file"):
        read_recipe("/no/such/recipe.yaml")


@pytest.mark.slow
def test_a_run_records_its_resolved_recipe_which_trains_the_same_way(fast_config, tmp_path):
    """RUN/recipe.yaml holds every training field as the run resolved it; read back, it gives the same
    training config (only the per-run fields differ)."""
    from finetune.loop import train

    result = train(fast_config(max_steps=1))
    recipe_file = result.run_dir / names.RECIPE_FILE
    assert recipe_file.read_text().startswith("# The resolved recipe of this run")
    rerun = resolve(from_recipe(str(recipe_file), data="d", out="o"))
    first = resolve(fast_config(max_steps=1))
    assert {k: getattr(rerun, k) for k in RECIPE_FIELDS} == {k: getattr(first, k) for k in RECIPE_FIELDS}
    per_run = {"data": first.data, "out": first.out, "recipe": first.recipe, "quiet": first.quiet}
    assert dataclasses.replace(rerun, **per_run) == first
