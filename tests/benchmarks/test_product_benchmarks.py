"""The benchmarks of the product's speed, learning, fidelity and robustness run as modules at small sizes and
print what they promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import train_default


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
    answers = figures["answers"]  # the recipe answers validation rows: their cost is reported
    assert answers["rows"] > 0 and answers["validations"] >= 1 and answers["seconds"] > 0
    assert "validation answers:" in text and "target <= 10%" in text


@pytest.mark.slow
def test_synth_speed_prints_its_figures():
    out = _module("synth_speed", "--small-rows", "60", "--skip-large", "--image-size", "64")
    assert "rows" in out and "s" in out


@pytest.mark.slow
def test_interruptions_round_on_synth_finds_nothing_wrong(tmp_path):
    """One SIGTERM and one kill -9 round of datagen synth: the checks run and pass."""
    out = _module("interruptions", "--rounds", "1", "--commands", "synth", "--workdir", str(tmp_path / "w"))
    assert "synth     SIGTERM" in out and "synth     SIGKILL" in out and "FAILED" not in out
