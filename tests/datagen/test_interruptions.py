"""`datagen synth` under pressure: two runs into one --out, SIGTERM, kill -9, too many workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.errors import run_cli
from contracts.outputs import lock_path
from datagen.cli import group

SYNTH = [sys.executable, "-c", "from datagen.cli import main; main()", "synth"]


def _start(out: Path, rows: int = 3000, workers: int = 1) -> subprocess.Popen:
    argv = [*SYNTH, "--out", str(out), "--rows", str(rows), "--image-size", "64", "--workers", str(workers)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def _rendering(out: Path) -> bool:
    """A temporary dir of ``out`` holds a few rendered images: the run is in the middle of its work."""
    return any(len(list(t.glob("*/*.jpg"))) > 5 for t in out.parent.glob(f".{out.name}.tmp-*"))


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _cli(argv, capsys):
    code = 0
    try:
        run_cli(group, argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.slow
def test_two_runs_into_one_out_one_wins_the_other_names_it(tmp_path, capsys):
    """The second run into an --out being written exits 2 naming the first; the first completes."""
    out = tmp_path / "data"
    first = _start(out)
    try:
        _wait_for(lambda: lock_path(out).exists())
        code, err = _cli(["synth", "--out", str(out), "--rows", "3", "--image-size", "64"], capsys)
        assert code == 2 and f"being written by another run (pid {first.pid}" in err
        assert err.count("\n") == 1
    finally:
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert (out / "dataset_info.json").is_file() and _leftovers(out) == []


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_leaves_nothing_and_no_traceback(tmp_path, workers):
    """SIGTERM mid-render: exit 143 with one line, no output, no temporary dir, no worker traceback."""
    out = tmp_path / "data"
    proc = _start(out, workers=workers)
    _wait_for(lambda: _rendering(out))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip() == "terminated"
    assert not out.exists() and _leftovers(out) == []


@pytest.mark.slow
def test_kill_9_leftovers_go_with_the_next_run_and_workers_die_quietly(tmp_path, capsys):
    """kill -9 leaves a temporary dir; the workers end with their parent, silently; the next run into the
    same --out removes the leftover and writes the dataset."""
    out = tmp_path / "data"
    proc = _start(out, workers=2)
    _wait_for(lambda: _rendering(out))
    proc.kill()
    _, err = proc.communicate(timeout=30)  # returns once the workers, holding the pipe too, have ended
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert any(".tmp-" in name for name in _leftovers(out))
    code, err = _cli(["synth", "--out", str(out), "--rows", "6", "--image-size", "64", "--quiet"], capsys)
    assert code == 0, err
    assert _leftovers(out) == [] and (out / "dataset_info.json").is_file()


def test_workers_are_capped_at_the_cores_available(tmp_path, capsys):
    """--workers 1000 uses the cores there are, and says so."""
    from datagen.synth.run import available_cores

    out = tmp_path / "data"
    code, err = _cli(
        ["synth", "--out", str(out), "--rows", "3", "--image-size", "32", "--workers", "1000"], capsys
    )
    assert code == 0
    assert f"--workers 1000: using {available_cores()}, the CPU cores available" in err
    assert os.cpu_count()
