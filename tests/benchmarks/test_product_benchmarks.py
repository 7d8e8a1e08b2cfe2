"""The benchmarks of the product's speed, learning, fidelity and robustness run as modules at small sizes and
print what they promise."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks import paired_speed, train_default


def _module(name: str, *args: str, timeout: int = 300) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args], capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_default_benchmark_short_version(tmp_path):
    """train_default on 40 synthetic rows and 2 steps: it runs the default recipe and reports every goal."""
    changes = {"max_steps": 2, "wandb": "off", "quiet": True, "sample_predictions": 0}
    figures = train_default.run_benchmark(tmp_path / "bench", rows=40, seed=0, train_changes=changes)
    assert figures["train"]["steps"] == 2
    assert set(figures["metrics"]) == set(train_default.GOALS)
    assert figures["oracle"]["category_accuracy"] == 1.0
    text = train_default.format_figures(figures)
    assert "category accuracy" in text and "load average" in text


@pytest.mark.slow
def test_synth_speed_prints_its_figures():
    out = _module("synth_speed", "--small-rows", "60", "--skip-large", "--image-size", "64")
    assert "rows" in out and "s" in out


@pytest.mark.slow
def test_interruptions_round_on_synth_finds_nothing_wrong(tmp_path):
    """One SIGTERM and one kill -9 round of datagen synth: the checks run and pass."""
    out = _module("interruptions", "--rounds", "1", "--commands", "synth", "--workdir", str(tmp_path / "w"))
    assert "synth     SIGTERM" in out and "synth     SIGKILL" in out and "FAILED" not in out


def test_paired_speed_benchmark_reports_its_figure(tmp_path, capsys):
    """paired_speed at a small size: it times the whole comparison and prints the figure against the goal."""
    argv = [
        "--systems",
        "3",
        "--rows",
        "60",
        "--resamples",
        "200",
        "--repeats",
        "1",
        "--json",
        str(tmp_path / "p.json"),
    ]
    figures = paired_speed.main(argv)
    out = capsys.readouterr().out
    assert "3 systems × 60 rows × 200 resamples" in out and "the 5 s goal" in out
    assert json.loads((tmp_path / "p.json").read_text()) == json.loads(json.dumps(figures))
    assert figures["seconds_best"] > 0 and set(figures["verdicts"]) == {"system-1", "system-2"}
