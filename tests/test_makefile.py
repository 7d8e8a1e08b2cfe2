"""The README's first command: `make demo` passes its paths whole, spaces and all."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_demo_quotes_its_output_paths():
    """OUT="/path with space": each command gets the path as one argument (make -n prints, runs nothing)."""
    out = "/tmp/a dir with spaces"
    proc = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "demo", f"OUT={out}"], capture_output=True, text=True, check=True
    )
    commands = [shlex.split(line) for line in proc.stdout.splitlines() if "/datagen " in line or
                "/finetune " in line or "/evaluate " in line]  # fmt: skip
    assert len(commands) == 3
    for argv in commands:
        paths = [argv[i + 1] for i, a in enumerate(argv) if a in ("--out", "--data", "--model", "--report")]
        assert paths and all(p.startswith(out + "/") for p in paths), argv
