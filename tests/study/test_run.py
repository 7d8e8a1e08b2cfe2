"""`study run` on tiny cells (a few training steps each): shares add up, nothing finished is redone, a killed
study resumes where it stopped, the report's numbers are the cells' metrics.json, bad input is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from contracts.errors import UserError
from contracts.outputs import OutputLock
from study.run import StudyConfig, run_study

# a few steps, no encoder warm-up, checkpoints often: a cell takes seconds
FAST = {"max_steps": 4, "encoder_warmup": 0, "save_every": 2, "eval_every": 2, "sample_predictions": 0}


def _study(tmp_path: Path, name: str = "s.yaml", **change) -> Path:
    doc = {
        "title": "tiny",
        "test": {"synth": {"rows": 40, "seed": 100, "image_size": 32}, "split": "train"},
        "train": [
            {"name": "small", "synth": {"rows": 24, "seed": 1, "image_size": 32}},
            {"name": "large", "synth": {"rows": 48, "seed": 2, "image_size": 32}},
        ],
        "recipes": [{"name": "fast", "recipe": "tiny-cpu", "set": FAST}],
        "seeds": [0, 1],
        "reference": "large/fast",
        **change,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A study of 2 training sets x 1 recipe x 2 seeds, run as two shares (--cell 1/2 and 2/2)."""
    tmp = tmp_path_factory.mktemp("study")
    file, out = _study(tmp), tmp / "out"
    lines: list[str] = []
    shares = [run_study(StudyConfig(str(file), str(out), cell=f"{i}/2"), lines.append) for i in (1, 2)]
    return file, out, shares, lines


def test_the_shares_add_up_to_the_whole_study(finished):
    _, out, shares, _ = finished
    ran = [cell for result in shares for cell in result.ran]
    assert sorted(ran) == sorted(
        f"{s}--fast--seed{seed}" for s in ("small", "large") for seed in (0, 1)
    )  # fmt: skip
    assert len(ran) == len(set(ran)) and not any(r.failed for r in shares)
    results = json.loads((out / "results.json").read_text())
    assert len(results["cells"]) == 4 and results["missing"] == []
    assert [g["group"] for g in results["groups"]] == ["small/fast", "large/fast"]  # the file's order
    _, _, _, lines = finished
    counted = sorted(line.split()[1] for line in lines if line.endswith(": started"))
    assert counted == ["1/2", "1/2", "2/2", "2/2"]  # each share numbers its own cells


def test_a_finished_study_run_again_redoes_nothing(finished):
    file, out, _, _ = finished
    before = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")}
    result = run_study(StudyConfig(str(file), str(out)), lambda line: None)
    assert result.ran == [] and len(result.skipped) == 4
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")} == before


def test_the_report_numbers_are_the_cells_metrics(finished):
    _, out, _, _ = finished
    results = json.loads((out / "results.json").read_text())
    for group in results["groups"]:
        for name, metric in group["metrics"].items():
            values = [
                json.loads((out / "cells" / cell / "eval" / "metrics.json").read_text())["metrics"][name][
                    "value"
                ]
                for cell in group["cell_ids"]
            ]
            assert metric["values"] == values
            finite = [v for v in values if v is not None]
            if finite:
                assert metric["mean"] == pytest.approx(np.mean(finite))
    html = (out / "report.html").read_text()
    assert 'content="study"' in html and "large/fast" in html and "Learning curves" in html


def test_verdicts_pair_the_cells_seed_by_seed(finished):
    """Each group against the reference over matched seeds: the mean difference and scipy's paired t-test."""
    _, out, _, _ = finished
    results = json.loads((out / "results.json").read_text())
    assert results["reference"] == "large/fast"
    (comparison,) = results["verdicts"]
    assert comparison["group"] == "small/fast" and comparison["seeds"] == [0, 1]

    def value(cell, name):
        doc = json.loads((out / "cells" / cell / "eval" / "metrics.json").read_text())
        return doc["metrics"][name]["value"]

    for row in comparison["metrics"]:
        mine = [value(f"small--fast--seed{s}", row["metric"]) for s in (0, 1)]
        ref = [value(f"large--fast--seed{s}", row["metric"]) for s in (0, 1)]
        if None in mine or None in ref:
            continue
        diffs = np.subtract(mine, ref)
        assert row["difference"] == pytest.approx(diffs.mean())
        assert row["test"] == "paired t over seeds" and len(row["row_verdicts"]) == 2
        if np.ptp(diffs) > 0:
            assert row["p_value"] == pytest.approx(stats.ttest_rel(mine, ref).pvalue)


def test_dropping_cells_says_which_and_keeps_their_files(finished, tmp_path):
    file, out, _, _ = finished
    lines: list[str] = []
    smaller = _study(file.parent, "fewer-seeds.yaml", seeds=[0])
    result = run_study(StudyConfig(str(smaller), str(out)), lines.append)
    assert result.ran == [] and any("2 cell(s) dropped" in line for line in lines)
    assert (out / "cells" / "small--fast--seed1" / "cell.json").is_file()
    results = json.loads((out / "results.json").read_text())
    assert len(results["cells"]) == 2  # the report holds the study as last run
    run_study(StudyConfig(str(file), str(out)), lines.append)  # back to the whole study: nothing to redo
    assert any("2 cell(s) added" in line for line in lines)
    assert len(json.loads((out / "results.json").read_text())["cells"]) == 4


def test_another_study_into_the_same_out_is_refused(finished):
    file, out, _, _ = finished
    other = _study(file.parent, "other.yaml", test={"synth": {"rows": 40, "seed": 101, "image_size": 32}})
    with pytest.raises(UserError, match="holds another study"):
        run_study(StudyConfig(str(other), str(out)), lambda line: None)


def test_a_training_set_that_shares_rows_with_the_test_set_is_refused(tmp_path, tiny_dataset):
    file = _study(
        tmp_path,
        test={"data": str(tiny_dataset), "split": "train"},
        train=[{"name": "same", "data": str(tiny_dataset)}],
        reference=None,
    )
    with pytest.raises(UserError, match=r"training set 'same' shares \d+ product\(s\) with the test set"):
        run_study(StudyConfig(str(file), str(tmp_path / "out")), lambda line: None)
    assert not (tmp_path / "out" / "cells").exists()


def test_a_killed_study_resumes_at_the_cell_it_stopped(tmp_path):
    """kill -9 of the study while its second cell trains: the first cell is kept, the second goes on from
    its checkpoint (its cell process got SIGTERM from the kernel and checkpointed)."""
    file = _study(
        tmp_path,
        train=[{"name": "small", "synth": {"rows": 24, "seed": 1, "image_size": 32}}],
        recipes=[{"name": "fast", "recipe": "tiny-cpu", "set": {**FAST, "max_steps": 40}}],
        reference=None,
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "study.cli", "run", str(file), "--out", str(out)]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    second = out / "cells" / "small--fast--seed1" / "run"
    deadline = time.monotonic() + 600
    while not list(second.glob("checkpoints/*")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    first = out / "cells" / "small--fast--seed0" / "cell.json"
    assert first.is_file()
    stamp = first.stat().st_mtime_ns
    process.send_signal(signal.SIGKILL)
    process.wait()
    # the orphaned cell checkpoints and exits on its own: wait for it to let go of its dir
    with OutputLock(out / "cells" / "small--fast--seed1", "cell").acquire(wait=True):
        pass
    lines: list[str] = []
    result = run_study(StudyConfig(str(file), str(out)), lines.append)
    assert result.skipped == ["small--fast--seed0"] and result.ran == ["small--fast--seed1"]
    assert first.stat().st_mtime_ns == stamp
    log = (out / "cells" / "small--fast--seed1" / "log.txt").read_text()
    assert "resuming the fine-tuning" in log
