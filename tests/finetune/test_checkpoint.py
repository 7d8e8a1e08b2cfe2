"""RUN dir claiming, atomic writes and checkpoints."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from contracts import run_layout as names
from contracts.errors import UserError
from finetune import checkpoint as ckpt


def _claim(run, **flags):
    claim = ckpt.claim_run_dir(run, **{"resume": False, "overwrite": False, **flags})
    claim.release()
    return claim


def _record(**train) -> str:
    """RUN/config.json as finetune writes it (the training config and the versions, ours among them)."""
    return json.dumps({"train": train, "versions": {"phi3v-catalogue": "0.1.0"}})


def test_claim_refuses_occupied_dir_without_flags(tmp_path):
    """A RUN holding a run needs --resume or --overwrite; --overwrite writes the new run beside the old one,
    which stays whole until the new one finishes and takes its place."""
    run = tmp_path / "run"
    run.mkdir()
    (run / names.CONFIG_FILE).write_text(_record())
    (run / names.MODEL_DIR).mkdir()
    (run / names.MODEL_DIR / "model.safetensors").write_bytes(b"old weights")
    with pytest.raises(UserError, match="--resume"):
        _claim(run)
    claim = _claim(run, resume=True)
    assert claim.run == run and claim.saved == {"train": {}, "versions": {"phi3v-catalogue": "0.1.0"}}
    claim = _claim(run, overwrite=True)
    assert claim.saved is None and claim.replaces and claim.run == names.replacement_of(run)
    assert (run / names.MODEL_DIR / "model.safetensors").read_bytes() == b"old weights"
    (claim.run / names.CONFIG_FILE).write_text(_record(seed=1))
    (claim.run / names.MODEL_DIR).mkdir()
    assert claim.finish() == run
    assert json.loads((run / names.CONFIG_FILE).read_text())["train"] == {"seed": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_killed_overwrite_leaves_the_old_run_and_can_resume_or_start_again(tmp_path):
    """An --overwrite run that dies before it finishes: the old run is whole; a plain run is refused and
    told about the replacement; --resume continues the replacement, --overwrite starts it again; a
    replacement that had finished takes its place at the next claim."""
    run = tmp_path / "run"
    run.mkdir()
    (run / names.CONFIG_FILE).write_text(_record(seed=0))
    claim = _claim(run, overwrite=True)  # released without finish(): as after kill -9
    pending = claim.run
    (pending / names.CONFIG_FILE).write_text(_record(seed=1))
    assert json.loads((run / names.CONFIG_FILE).read_text())["train"] == {"seed": 0}
    with pytest.raises(UserError, match="replacement started with --overwrite has not finished"):
        _claim(run)
    resumed = _claim(run, resume=True)
    assert resumed.run == pending and resumed.saved["train"] == {"seed": 1} and resumed.final == run
    assert ckpt.run_being_written(run, resume=True) == pending
    again = _claim(run, overwrite=True)
    assert again.run == pending and not any(pending.iterdir())  # the unfinished replacement is dropped
    (pending / names.CONFIG_FILE).write_text(_record(seed=2))
    (pending / names.MODEL_DIR).mkdir()  # it finished, but was killed before the swap
    with pytest.raises(UserError, match="--resume"):
        _claim(run)  # the claim completes the swap first; then the run is an ordinary finished one
    assert json.loads((run / names.CONFIG_FILE).read_text())["train"] == {"seed": 2}
    assert not pending.exists()


def test_a_failed_start_leaves_nothing_and_the_replaced_run_untouched(tmp_path):
    """A new run that fails before it trains removes its dir; under --overwrite the old run never moved."""
    run = tmp_path / "run"
    claim = _claim(run)
    (run / names.CONFIG_FILE).write_text(_record(seed=1))
    claim.failed()
    assert not run.exists()
    run.mkdir()
    (run / names.CONFIG_FILE).write_text(_record(seed=0))
    claim = _claim(run, overwrite=True)
    (claim.run / names.CONFIG_FILE).write_text(_record(seed=2))
    claim.failed()
    assert (run / names.CONFIG_FILE).read_text() == _record(seed=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_only_content_this_project_writes_makes_a_run_replaceable(tmp_path):
    """A config.json with a "train" key that another tool wrote is not a run of ours: refused, kept."""
    run = tmp_path / "run"
    run.mkdir()
    (run / names.CONFIG_FILE).write_text('{"train": {"epochs": 3}}')
    for flags in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(UserError, match="not a RUN dir written by this project|no run to continue"):
            _claim(run, **flags)
    assert (run / names.CONFIG_FILE).read_text() == '{"train": {"epochs": 3}}'


def test_claim_never_replaces_files_it_did_not_write(tmp_path):
    """Other files, in the dir or beside a run, are never deleted, --overwrite or not."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a RUN dir written by this project"):
        _claim(run, overwrite=True)
    (run / names.CONFIG_FILE).write_text(_record())
    with pytest.raises(UserError, match="notes.txt"):
        _claim(run, overwrite=True)
    assert (run / "notes.txt").read_text() == "mine"


def test_a_held_run_dir_is_refused_with_its_holder(tmp_path):
    """While one run holds a RUN dir, a second one is refused and told who holds it."""
    run = tmp_path / "run"
    first = ckpt.claim_run_dir(run, resume=False, overwrite=False)
    try:
        with pytest.raises(UserError, match=r"being written by another run \(pid \d+"):
            ckpt.claim_run_dir(run, resume=True, overwrite=False)
    finally:
        first.release()


def test_resume_without_a_run_is_refused(tmp_path):
    """--resume on an empty dir names the problem."""
    with pytest.raises(UserError, match="no run to continue"):
        _claim(tmp_path / "empty", resume=True)


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
