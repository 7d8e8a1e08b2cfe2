"""The training recipe end to end on the tiny model."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from contracts import run_layout as names
from contracts.errors import UserError
from finetune.loop import train
from finetune.model import model_overrides
from finetune.tracking import read_metrics
from phi3v.loading import load_model


def _losses(run, split="train"):
    return [r["loss"] for r in read_metrics(run) if r["split"] == split]


@pytest.mark.slow
def test_run_dir_layout_and_every_parameter_trained(fast_config):
    """RUN holds config, dataset, metrics, model/, best/, checkpoints; every trainable parameter moved."""
    cfg = fast_config(eval_every=2, save_every=2, sample_predictions=1)
    result = train(cfg)
    run = result.run_dir
    assert result.steps == 4 and result.interrupted is None and result.best_val_loss is not None
    record = json.loads((run / names.CONFIG_FILE).read_text())
    assert record["train"]["method"] == "full" and record["versions"]["torch"]
    dataset = json.loads((run / names.DATASET_FILE).read_text())
    assert dataset["rows"] == {"train": 12, "validation": 4, "test": 4} and len(dataset["fingerprint"]) == 64
    assert len(_losses(run)) == 4 and len(_losses(run, "validation")) == 2
    assert [p.name for p in (run / names.CHECKPOINTS_DIR).iterdir()] == ["step-000002"]
    assert (run / names.SAMPLES_FILE).read_text().count("\n") == 2

    model, processor = load_model(str(run / names.MODEL_DIR))
    before, _ = load_model("tiny", seed=cfg.seed, overrides=model_overrides(cfg), corpus=["x"])
    trained = load_file(run / names.MODEL_DIR / "model.safetensors")
    initial = dict(before.named_parameters())
    frozen = {n for n, p in initial.items() if not p.requires_grad}  # CLIP layers after the one that is read
    changed = {
        n for n, t in trained.items() if n in initial and n not in frozen and initial[n].shape == t.shape
    }
    for name in changed:
        assert not torch.equal(initial[name], trained[name]), f"{name} did not change"
    assert len(changed) > 20
    assert processor.image_processor.num_crops == 1


@pytest.mark.slow
def test_loss_goes_down_on_a_small_set(fast_config):
    """A few dozen steps over 12 examples lower the training loss a lot (the model can learn at all)."""
    result = train(fast_config(max_steps=30, lr=3e-3, eval_every=30))
    losses = _losses(result.run_dir)
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_gradient_accumulation_matches_a_bigger_batch(fast_config):
    """Batch 4 equals batch 2 x 2 accumulation: the loss is normalised over the global batch's tokens."""
    a = train(fast_config("a", max_steps=3))
    b = train(fast_config("b", max_steps=3, batch_size=2, grad_accum=2))
    # float32 sums in another order: equal to rounding
    torch.testing.assert_close(_losses(a.run_dir), _losses(b.run_dir), rtol=1e-5, atol=1e-6)
    wa = load_file(a.run_dir / names.MODEL_DIR / "model.safetensors")
    wb = load_file(b.run_dir / names.MODEL_DIR / "model.safetensors")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_same_seed_same_run(fast_config):
    """Two runs with the same seed log identical losses and write identical weights, with several CPU
    threads too (the loop runs torch's deterministic kernels on the CPU)."""
    a = train(fast_config("a", max_steps=4, threads=2, mirror=True))
    b = train(fast_config("b", max_steps=4, threads=2, mirror=True))
    assert _losses(a.run_dir) == _losses(b.run_dir)
    weights = names.MODEL_DIR + "/model.safetensors"
    assert (a.run_dir / weights).read_bytes() == (b.run_dir / weights).read_bytes()
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run


@pytest.mark.slow
def test_images_transformed_per_batch_train_exactly_as_kept_ones(fast_config):
    """--pixel-memory-gib 0 keeps no processed image (background threads transform them per batch, ahead of
    use): same losses, validation and weights as the run that keeps them, with mirroring on."""
    changes = {"max_steps": 6, "eval_every": 3, "mirror": True, "encoder_warmup": 2}
    kept = train(fast_config("kept", **changes))
    made = train(fast_config("made", pixel_memory_gib=0, **changes))
    assert _losses(kept.run_dir) == _losses(made.run_dir)
    assert _losses(kept.run_dir, "validation") == _losses(made.run_dir, "validation")
    assert _losses(kept.run_dir, "encoder_warmup") == _losses(made.run_dir, "encoder_warmup")
    wa = load_file(kept.run_dir / names.MODEL_DIR / "model.safetensors")
    wb = load_file(made.run_dir / names.MODEL_DIR / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    cached = {p.name for p in (made.run_dir / names.CACHE_DIR).iterdir()}
    assert len(cached) == 2 and all(n.endswith("-text.safetensors") for n in cached)  # the text alone
    assert "pixel_values" not in load_file(next((made.run_dir / names.CACHE_DIR).iterdir()))


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message(fast_config):
    """A diverging run stops with one line naming the step and the last good checkpoint."""
    with pytest.raises(UserError, match=r"loss became (nan|inf).*last good checkpoint: .*step-000001"):
        train(fast_config(max_steps=6, lr=1e12, max_grad_norm=0.0, save_every=1, eval_every=100))


def test_bad_inputs_fail_before_the_run_dir_is_touched(fast_config, tmp_path):
    """Unknown preset, missing data: UserError, and --out is not created."""
    with pytest.raises(UserError, match="--model 'tinyy'"):
        train(fast_config(model="tinyy"))
    with pytest.raises(UserError, match="no such dataset dir"):
        train(fast_config(data=str(tmp_path / "nope")))
    assert not (tmp_path / "run").exists()


def test_image_encoder_gets_its_own_learning_rate(fast_config):
    """--vision-lr-ratio scales the learning rate of the CLIP tower's parameters, and only theirs: the
    projection and the separators, which start from nothing, train at --lr like the decoder."""
    from finetune.config import resolve
    from finetune.optim import build_optimizer

    cfg = resolve(fast_config(lr=1e-3, vision_lr_ratio=0.1))
    model, _ = load_model("tiny", overrides=model_overrides(cfg))
    optimizer = build_optimizer(model, cfg, torch.device("cpu"))
    lr_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        if p.requires_grad:
            expected = 1e-4 if name.startswith("model.vision_embed_tokens.img_processor.") else 1e-3
            assert lr_of[id(p)] == pytest.approx(expected), name
    projection = model.model.vision_embed_tokens.img_projection
    assert all(lr_of[id(p)] == pytest.approx(1e-3) for p in projection.parameters())
    assert sum(lr_of[id(p)] == pytest.approx(1e-4) for p in model.parameters() if p.requires_grad) > 10
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays[id(model.model.embed_tokens.weight)] == 0.0
    patch = model.model.vision_embed_tokens.img_processor.vision_model.embeddings.patch_embedding.weight
    assert decays[id(patch)] == cfg.weight_decay
