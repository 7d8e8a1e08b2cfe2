"""metrics.jsonl, W&B mode resolution and the resume truncation."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from datagen.errors import UserError
from finetune import run_layout as names
from finetune.tracking import Sample, Tracker, read_metrics, resolve_wandb_mode, truncate_after


def test_wandb_mode_from_flags_and_environment(monkeypatch, tmp_path):
    """Offline unless a key is configured; --no-wandb wins; online without a key is a user error."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert resolve_wandb_mode("auto", disabled=False) == "offline"
    assert resolve_wandb_mode("online", disabled=True) == "disabled"
    with pytest.raises(UserError, match="WANDB_API_KEY"):
        resolve_wandb_mode("online", disabled=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto", disabled=False) == "online"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert resolve_wandb_mode("auto", disabled=False) == "offline"


def test_metrics_file_and_resume_truncation(tmp_path):
    """Records append as strict JSON; a resume from step 2 forgets what was logged after it."""
    tracker = Tracker(tmp_path, config={}, wandb_mode="disabled", project="p")
    for step in (1, 2, 3):
        tracker.log({"step": step, "split": "train", "loss": 1.0 / step, "lr": float("nan")})
    tracker.finish()
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2, 3] and records[0]["lr"] is None
    Tracker(tmp_path, config={}, wandb_mode="disabled", project="p", resume_step=2)
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_truncate_drops_half_written_lines(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 5}\n{"ste')
    truncate_after(path, 3)
    assert path.read_text() == '{"step": 1}\n'


def test_inactive_tracker_writes_nothing(tmp_path):
    """Processes other than rank 0 log nothing."""
    tracker = Tracker(tmp_path, config={}, wandb_mode="offline", project="p", active=False)
    tracker.log({"step": 1, "split": "train", "loss": 1.0})
    tracker.log_samples(1, [Sample(Image.new("RGB", (4, 4)), "a", "b")])
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_wandb_offline_run_with_samples_table(tmp_path):
    """An offline W&B run records scalars and the sample table with images, under RUN/wandb."""
    tracker = Tracker(tmp_path, config={"lr": 1e-3}, wandb_mode="offline", project="test")
    tracker.log({"step": 1, "split": "train", "loss": 2.0, "lr": 1e-3})
    tracker.log_samples(1, [Sample(Image.new("RGB", (8, 8), "red"), "Product: A", "Product: B", "1.jpg")])
    tracker.summarize({"best_val_loss": 1.0})
    tracker.finish()
    assert list((tmp_path / names.WANDB_DIR).glob("**/*.wandb"))
    row = json.loads((tmp_path / names.SAMPLES_FILE).read_text().splitlines()[0])
    assert row == {"step": 1, "file_name": "1.jpg", "target": "Product: A", "prediction": "Product: B"}
