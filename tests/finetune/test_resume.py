"""--resume ends where an uninterrupted run ends; SIGTERM checkpoints and exits cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from contracts import run_layout as names
from contracts.errors import UserError
from finetune.checkpoint import latest_checkpoint, load_checkpoint
from finetune.loop import train
from finetune.tracking import read_metrics


def _final_weights(run):
    return load_file(run / names.MODEL_DIR / "model.safetensors")


@pytest.mark.slow
def test_two_plus_two_steps_equal_four(fast_config):
    """4 steps in one go, or 2 + resume + 2: the same logged losses and the same final weights (every
    augmentation draws the same in both). The resumed half keeps no
    processed images (--pixel-memory-gib 0, free to change on resume): its batches, made ahead by background
    threads from step 2 on, are the ones the kept images give."""
    whole = train(fast_config("whole", eval_every=2))
    first = train(fast_config("parts", eval_every=2, stop_after=2))
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
def test_resume_continues_the_answered_rows_and_the_best_so_far(fast_config):
    """A run that keeps its best by a task metric, stopped after its first validation and resumed, answers
    the same rows, logs the same task metrics and keeps the same best as the uninterrupted run."""
    changes = {"eval_every": 1, "eval_rows": 3, "best_metric": "title_token_sort_ratio_mean", "max_steps": 3}
    whole = train(fast_config("whole", **changes))
    first = train(fast_config("parts", stop_after=1, **changes))
    state = load_checkpoint(latest_checkpoint(first.run_dir)).state
    assert len(state["answered"]) == 3 and state["best"]["step"] == 1
    assert state["best"]["metric"] == "title_token_sort_ratio_mean"
    second = train(fast_config("parts", resume=True, **changes))
    keys = ("step", "loss", "category_accuracy", "title_token_sort_ratio_mean", "price_median_ape")
    a, b = (
        [{k: r.get(k) for k in keys} for r in read_metrics(x.run_dir) if r["split"] == "validation"]
        for x in (whole, second)
    )
    assert len(a) == 3 and a == b
    assert (second.best_step, second.best_value) == (whole.best_step, whole.best_value)
    assert (second.best_metric, whole.best_metric) == ("title_token_sort_ratio_mean",) * 2
    wa, wb = (load_file(x.run_dir / names.BEST_DIR / "model.safetensors") for x in (whole, second))
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key])
    config = json.loads((second.run_dir / names.CONFIG_FILE).read_text())["train"]
    assert config["best_metric"] == "title_token_sort_ratio_mean" and config["eval_rows"] == 3
    card = (second.run_dir / names.BEST_DIR / "README.md").read_text()
    assert "best validation title_token_sort_ratio_mean" in card


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
    (tmp_path / "run" / names.CONFIG_FILE).write_text(
        '{"train": {}, "versions": {"phi3v-catalogue": "0.1.0"}}'
    )
    with pytest.raises(UserError, match="--resume .* --overwrite"):
        train(fast_config())


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(fast_config, tmp_path):
    """SIGTERM mid-run: exit code 143, a line saying how to continue, and a checkpoint."""
    cfg = fast_config(max_steps=400, save_every=1000, eval_every=1000)
    proc = subprocess.Popen(
        _cli_argv(cfg), stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
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


def _cli_argv(cfg) -> list[str]:
    """The `finetune` command line that gives ``cfg``: a flag for every field, so no recipe value slips in."""
    from finetune.cli import command

    options = {}
    for param in command.params:  # the first of two options sharing a name (--wandb, then --no-wandb)
        options.setdefault(param.name, param)
    argv = [sys.executable, "-c", "from finetune.cli import main; main()", "--recipe", "tiny-cpu"]
    for name, value in vars(cfg).items():
        option = options[name]
        if isinstance(value, bool):
            argv += [option.opts[0]] if value else option.secondary_opts[:1]
        elif value is not None and name != "recipe":
            argv += [option.opts[0], str(value)]
    return argv


@pytest.mark.slow
def test_sigterm_in_the_encoder_warmup_is_checkpointed_and_resumed_exactly(fast_config, tmp_path, capsys):
    """SIGTERM during the encoder warm-up: exit 143 naming where it stopped, a warm-up checkpoint, and a
    --resume that says where it goes on and ends with the same weights, byte for byte, as a whole run."""
    changes = {"encoder_warmup": 120, "max_steps": 2, "threads": 1}
    whole = train(fast_config("whole", **changes))
    cfg = fast_config("parts", **changes, quiet=False)
    proc = subprocess.Popen(
        _cli_argv(cfg), stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    lines = []
    for line in proc.stderr:  # not a terminal: one plain line per warm-up epoch
        lines.append(line)
        if line.startswith("encoder warm-up epoch 3/120"):
            proc.send_signal(signal.SIGTERM)
            break
    _, rest = proc.communicate(timeout=120)
    err = "".join(lines) + rest
    assert proc.returncode == 143, err
    assert "stopped (SIGTERM) in the encoder warm-up at epoch" in err and "--resume" in err
    assert "Traceback" not in err
    saved = [p.name for p in (tmp_path / "parts" / names.CHECKPOINTS_DIR).iterdir()]
    assert len(saved) == 1 and saved[0].startswith("warmup-")
    capsys.readouterr()
    resumed = train(fast_config("parts", **changes, resume=True, quiet=False))
    assert "resuming the encoder warm-up at epoch" in capsys.readouterr().err
    assert resumed.steps == 2 and resumed.interrupted is None
    a = (whole.run_dir / names.MODEL_DIR / "model.safetensors").read_bytes()
    b = (resumed.run_dir / names.MODEL_DIR / "model.safetensors").read_bytes()
    assert a == b
    warmup = [r["loss"] for r in read_metrics(whole.run_dir) if r["split"] == "encoder_warmup"]
    assert warmup == [r["loss"] for r in read_metrics(resumed.run_dir) if r["split"] == "encoder_warmup"]
    assert len(warmup) == 120


@pytest.mark.slow
def test_kill_between_the_warmup_and_the_first_checkpoint_resumes_exactly(fast_config, tmp_path):
    """kill -9 after the warm-up's last checkpoint and before fine-tuning's first: --resume goes on from the
    warm-up's checkpoint and ends with the weights of a whole run, byte for byte (the first steps depend on
    nothing that checkpoint lacks, stale gradients of the warm-up included)."""
    changes = {"encoder_warmup": 3, "max_steps": 6, "save_every": 100, "eval_every": 100, "threads": 1}
    whole = train(fast_config("whole", **changes))
    proc = subprocess.Popen(
        _cli_argv(fast_config("parts", **changes, quiet=False)),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    for line in proc.stderr:
        if line.startswith("finetune step 2/6"):
            proc.kill()
            break
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = sorted(p.name for p in (tmp_path / "parts" / names.CHECKPOINTS_DIR).iterdir())
    assert saved == ["warmup-0003-00000"], saved
    resumed = train(fast_config("parts", **changes, resume=True))
    assert resumed.steps == 6 and resumed.interrupted is None
    for sub in (names.MODEL_DIR, names.BEST_DIR):
        a = (whole.run_dir / sub / "model.safetensors").read_bytes()
        assert a == (resumed.run_dir / sub / "model.safetensors").read_bytes(), sub


@pytest.mark.slow
def test_overwrite_killed_midway_leaves_the_old_run_whole(fast_config, tmp_path):
    """`finetune --out FINISHED --overwrite` killed (-9) between two checkpoints: the finished run's files
    are all still there, byte for byte; --resume finishes the replacement, which then takes the run's place
    and equals a whole run of its settings."""
    old = train(fast_config("run", max_steps=2))
    before = {p.relative_to(old.run_dir): p.read_bytes() for p in old.run_dir.rglob("*") if p.is_file()}
    changes = {"max_steps": 6, "save_every": 2, "eval_every": 2, "seed": 3}
    whole = train(fast_config("whole", **changes))
    proc = subprocess.Popen(
        _cli_argv(fast_config("run", **changes, overwrite=True, quiet=False)),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    for line in proc.stderr:
        if line.startswith("finetune step 3/6"):
            proc.kill()
            break
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    after = {p.relative_to(old.run_dir): p.read_bytes() for p in old.run_dir.rglob("*") if p.is_file()}
    assert after == before
    with pytest.raises(UserError, match="has not finished"):
        train(fast_config("run", **changes))
    resumed = train(fast_config("run", **changes, resume=True))
    assert resumed.run_dir == old.run_dir and resumed.steps == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run", "whole"]
    for sub in (names.MODEL_DIR, names.BEST_DIR):
        a = (whole.run_dir / sub / "model.safetensors").read_bytes()
        assert a == (resumed.run_dir / sub / "model.safetensors").read_bytes(), sub


def test_progress_goes_to_a_log_as_plain_lines(fast_config, capsys):
    """Not on a terminal (nohup, CI, Slurm): a line per warm-up epoch and per logged step, no bar."""
    train(fast_config(quiet=False, max_steps=2, log_every=1))
    err = capsys.readouterr().err
    assert "encoder warm-up epoch 1/2: loss" in err and "encoder warm-up epoch 2/2: loss" in err
    assert "finetune step 1/2: epoch" in err and "finetune step 2/2: epoch" in err
    assert "\r" not in err


def test_a_failed_start_leaves_nothing(fast_config, tmp_path, handmade_dataset):
    """An unreadable image found while encoding: one user error, and no RUN dir left to block a rerun."""
    image = next((handmade_dataset / "train").glob("*.jpg"))
    good = image.read_bytes()
    image.write_bytes(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read|unreadable|image"):
        train(fast_config())
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    image.write_bytes(good)
    assert train(fast_config()).interrupted is None


def test_usage_errors_come_before_torch_loads(tmp_path):
    """A missing or bad flag is one line and exit 2, answered before torch is imported (under a second)."""
    code = (
        "import sys\nfrom finetune.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)"
    )
    for args in (["--out", str(tmp_path / "r")], [], ["--data", "d", "--out", "r", "--lr", "-1"]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
        assert proc.stdout.split() == ["2", "False"], (args, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_stop_at_the_last_step_finishes_the_run(fast_config):
    """Asked to stop at the last step (a signal, or --stop-after reaching it), the run exports and ends whole
    rather than leaving the steps since its last checkpoint to redo."""
    result = train(fast_config("last", stop_after=4, save_every=3))
    assert result.interrupted is None and result.steps == 4
    assert (result.run_dir / names.MODEL_DIR).is_dir()
