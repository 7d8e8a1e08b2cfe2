"""RUN dir claiming, atomic writes and checkpoints."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from datagen.errors import UserError
from finetune import checkpoint as ckpt
from finetune import run_layout as names


def test_claim_refuses_occupied_dir_without_flags(tmp_path):
    """A RUN holding a run needs --resume or --overwrite; other files are not silently deleted."""
    run = tmp_path / "run"
    run.mkdir()
    (run / names.CONFIG_FILE).write_text("{}")
    with pytest.raises(UserError, match="--resume"):
        ckpt.claim_run_dir(run, resume=False, overwrite=False)
    path, saved = ckpt.claim_run_dir(run, resume=True, overwrite=False)
    assert path == run and saved == {}
    path, saved = ckpt.claim_run_dir(run, resume=False, overwrite=True)
    assert saved is None and not any(run.iterdir())


def test_resume_without_a_run_is_refused(tmp_path):
    """--resume on an empty dir names the problem."""
    with pytest.raises(UserError, match="no run to continue"):
        ckpt.claim_run_dir(tmp_path / "empty", resume=True, overwrite=False)


def test_write_dir_replaces_atomically_and_cleans_up_on_error(tmp_path):
    """write_dir swaps a whole dir in; a failing fill leaves the old dir and no temporary."""
    dest = tmp_path / "model"
    ckpt.write_dir(dest, lambda d: (d / "a").write_text("1"))
    ckpt.write_dir(dest, lambda d: (d / "b").write_text("2"))
    assert sorted(p.name for p in dest.iterdir()) == ["b"]

    def boom(d):
        (d / "c").write_text("3")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ckpt.write_dir(dest, boom)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in dest.iterdir()) == ["b"]


def _save(run, step, keep_last=2):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    path = ckpt.save_checkpoint(
        run,
        step=step,
        trainable=dict(model.named_parameters()),
        optimizer=opt.state_dict(),
        scheduler=sched.state_dict(),
        state={"epoch": 0, "best_val_loss": 1.5},
        keep_last=keep_last,
    )
    return path, model, opt


def test_checkpoint_round_trip_and_keep_last(tmp_path):
    """Weights, optimizer, scheduler and state come back; only the newest keep_last remain."""
    for step in (1, 2, 3):
        path, model, opt = _save(tmp_path, step)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-000002", "step-000003"]
    loaded = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    assert loaded.step == 3 and loaded.state["best_val_loss"] == 1.5
    torch.testing.assert_close(loaded.trainable["weight"], model.weight.detach())
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(loaded.optimizer)
    torch.testing.assert_close(
        fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    assert loaded.scheduler["last_epoch"] == 1


def test_incomplete_checkpoint_is_ignored(tmp_path):
    """A dir without trainer_state.json (a crash mid-write) is not a checkpoint."""
    _save(tmp_path, 1)
    (tmp_path / names.CHECKPOINTS_DIR / "step-000009").mkdir()
    (tmp_path / names.CHECKPOINTS_DIR / ".tmp-step-000010").mkdir()
    assert ckpt.latest_checkpoint(tmp_path).name == "step-000001"


def test_rng_states_round_trip():
    """torch, numpy and python RNGs continue where they were captured."""
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    tensors, plain = ckpt.capture_rng()
    expected = (torch.rand(2), np.random.rand(2), random.random())
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    ckpt.restore_rng(tensors, plain)
    got = (torch.rand(2), np.random.rand(2), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1])
    assert got[2] == expected[2]
