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


@pytest.mark.slow
def test_synth_speed_prints_its_figures():
    """Every case at a small size: the end-to-end run, two scale runs with the goals, streaming and merge."""
    args = ["--small-rows", "60", "--rows", "60", "--rows", "90", "--image-size", "64"]
    out = _module(
        "synth_speed", *args, "--merge-shards", "3", "--merge-rows", "60", "--merge-image-size", "32"
    )
    assert "60 rows, end to end" in out and "90 rows, parquet" in out
    assert "streaming: load_dataset(DIR, streaming=True) to the first row of 90 rows" in out
    assert "merge: 3 shards of 60 rows (parquet, 32 px)" in out
    assert "merge: 3 shards of 60 rows (imagefolder, 32 px)" in out
    assert "peak PSS 90 vs 60 rows" in out


@pytest.mark.slow
def test_interruptions_round_on_synth_finds_nothing_wrong(tmp_path):
    """One SIGTERM and one kill -9 round of datagen synth: the checks run and pass."""
    out = _module("interruptions", "--rounds", "1", "--commands", "synth", "--workdir", str(tmp_path / "w"))
    assert "synth     SIGTERM" in out and "synth     SIGKILL" in out and "FAILED" not in out


@pytest.mark.slow
def test_privacy_utility_judges_three_fits_and_times_the_section(tmp_path):
    """fit -> synth three ways at 240 rows: every figure row, a verdict per fit, and the timed parts."""
    work = tmp_path / "w"
    out = _module("privacy_utility", "--rows", "240", "--image-size", "64", "--work", str(work), timeout=600)
    labels = ("titles copied", "distance share", "DCROverfittingProtection", "utility: category from title")
    for label in labels:
        line = next(x for x in out.splitlines() if x.startswith(label))
        cells = line[len(label) :].split()
        # one figure each for before, default and no-copies
        assert len(cells) == 3 and all(0.0 <= float(c) <= 1.5 for c in cells), line
    for fit in ("before", "default", "no-copies"):
        assert f"{fit} verdict: " in out
    assert "no-copies: " in out and "zero titles copied yes" in out  # the promise holds at any size
    assert "privacy and utility" in out.split("## Time", 1)[1]
    assert (work / "profile-no-copies.json").is_file()
