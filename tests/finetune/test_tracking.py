"""metrics.jsonl, the W&B run of a RUN dir and the resume truncation."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from contracts import run_layout as names
from finetune.tracking import (
    WARMUP_SPLIT,
    Sample,
    Tracker,
    keep_records,
    read_metrics,
    up_to_step,
    up_to_warmup_epoch,
)


def test_metrics_file_and_resume_truncation(tmp_path):
    """Records append as strict JSON; a resume from step 2 forgets what was logged after it."""
    tracker = Tracker(tmp_path, config={}, wandb_mode=None, project="p")
    for step in (1, 2, 3):
        tracker.log({"step": step, "split": "train", "loss": 1.0 / step, "lr": float("nan")})
    tracker.finish()
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [1, 2, 3] and records[0]["lr"] is None
    Tracker(tmp_path, config={}, wandb_mode=None, project="p", keep=up_to_step(2))
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


def test_truncate_drops_half_written_lines(tmp_path):
    """A line cut short by a killed process goes, whatever its content."""
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1}\n{"step": 5}\n{"step": 2}')
    keep_records(path, up_to_step(3))
    assert path.read_text() == '{"step": 1}\n'


def test_resume_inside_the_warmup_keeps_its_finished_epochs_only(tmp_path):
    """A run resumed at warm-up epoch 2 keeps the records of epochs 1 and 2, nothing logged after them."""
    path = tmp_path / "m.jsonl"
    records = [{"step": 0, "split": WARMUP_SPLIT, "epoch": e, "loss": 1.0} for e in (1, 2, 3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    keep_records(path, up_to_warmup_epoch(2))
    assert [r["epoch"] for r in map(json.loads, path.read_text().splitlines())] == [1, 2]
    # resumed from a fine-tuning step, the warm-up's records (step 0) all stay
    path.write_text("".join(json.dumps(r) + "\n" for r in [*records, {"step": 4, "split": "train"}]))
    keep_records(path, up_to_step(3))
    assert len(path.read_text().splitlines()) == 3


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
