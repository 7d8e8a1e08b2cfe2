"""--resume ends where an uninterrupted run ends; SIGTERM checkpoints and exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from datagen.errors import UserError
from finetune import run_layout as names
from finetune.checkpoint import latest_checkpoint
from finetune.loop import train
from finetune.tracking import read_metrics


def _final_weights(run):
    return load_file(run / names.MODEL_DIR / "model.safetensors")


@pytest.mark.slow
def test_two_plus_two_steps_equal_four(fast_config):
    """4 steps in one go, or 2 + resume + 2: the same logged losses and the same final weights (the
    answer's token noise, like every augmentation, draws the same in both). The resumed half keeps no
    processed images (--pixel-memory-gib 0, free to change on resume): its batches, made ahead by background
    threads from step 2 on, are the ones the kept images give."""
    whole = train(fast_config("whole", eval_every=2, token_noise=0.3))
    first = train(fast_config("parts", eval_every=2, stop_after=2, token_noise=0.3))
    assert first.interrupted == "stop-after" and latest_checkpoint(first.run_dir).name == "step-000002"
    assert not (first.run_dir / names.MODEL_DIR).exists()
    # every other flag comes from the saved run
    second = train(fast_config("parts", resume=True, pixel_memory_gib=0))
    assert second.steps == 4 and second.interrupted is None
    assert any(p.name.endswith("-text.safetensors") for p in (second.run_dir / names.CACHE_DIR).iterdir())

    a, b = read_metrics(whole.run_dir), read_metrics(second.run_dir)
    assert [(r["step"], r["split"]) for r in a] == [(r["step"], r["split"]) for r in b]
    torch.testing.assert_close([r["loss"] for r in a], [r["loss"] for r in b])
    wa, wb = _final_weights(whole.run_dir), _final_weights(second.run_dir)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key])


@pytest.mark.slow
def test_resume_refuses_changed_flags_and_finished_runs(fast_config):
    train(fast_config(stop_after=1))
    with pytest.raises(UserError, match="--lr"):
        train(fast_config(resume=True, lr=0.5))
    train(fast_config(resume=True))
    with pytest.raises(UserError, match="finished"):
        train(fast_config(resume=True))


def test_occupied_run_dir_needs_resume_or_overwrite(fast_config, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / names.CONFIG_FILE).write_text("{}")
    with pytest.raises(UserError, match="--resume .* --overwrite"):
        train(fast_config())


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(fast_config, tmp_path):
    """SIGTERM mid-run: exit code 143, a line saying how to continue, and a checkpoint."""
    cfg = fast_config(max_steps=400, save_every=1000, eval_every=1000)
    argv = [sys.executable, "-c", "from finetune.cli import main; main()"]
    for name, value in vars(cfg).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    proc = subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    metrics = tmp_path / "run" / names.METRICS_FILE
    deadline = time.monotonic() + 240
    while not (metrics.is_file() and metrics.read_text().count('"split": "train"') >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "stopped (SIGTERM)" in err and "--resume" in err
    saved = latest_checkpoint(tmp_path / "run")
    assert saved is not None and 2 <= int(saved.name.split("-")[1]) < 400
