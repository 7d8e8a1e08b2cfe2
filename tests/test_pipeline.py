"""The README pipeline end to end on a small dataset: synth, finetune, evaluate --report via the CLIs."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _demo_commands() -> list[list[str]]:
    """The `make demo` recipe's commands, so this test runs what the README tells a new user to run."""
    text = (ROOT / "Makefile").read_text()
    recipe = text.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    lines = [ln.strip() for ln in recipe.splitlines()[1:] if ln.startswith("\t") and "$(BIN)/" in ln]
    return [shlex.split(ln) for ln in lines]  # as the shell splits them: "$(OUT)/data" loses its quotes


def _run(args: list[str]) -> subprocess.CompletedProcess:
    module = {"datagen": "datagen.cli", "finetune": "finetune.cli", "evaluate": "evaluation.cli"}[args[0]]
    code = f"import sys; from {module} import main; sys.argv[0] = {args[0]!r}; main()"
    return subprocess.run([sys.executable, "-c", code, *args[1:]], capture_output=True, text=True, cwd=ROOT)


@pytest.mark.slow
def test_demo_pipeline_on_a_small_dataset(tmp_path):
    """The demo commands, shrunk (60 rows, 64 px, 12 steps), produce a report that scores the model."""
    commands = _demo_commands()
    assert [c[0].removeprefix("$(BIN)/") for c in commands] == ["datagen", "finetune", "evaluate"]
    small = {
        "datagen": ["--rows", "60", "--image-size", "64", "--quiet"],
        "finetune": ["--max-steps", "12", "--batch-size", "8", "--no-wandb", "--quiet"],
        "evaluate": ["--no-wandb", "--quiet", "--bootstrap", "50"],
    }
    for command in commands:
        name = command[0].removeprefix("$(BIN)/")
        args = [re.sub(r"\$\(OUT\)", str(tmp_path), a) for a in command[1:]]
        args = [a for a in args if "$(" not in a]  # drop make-only values such as --rows $(ROWS)
        args = [
            a
            for i, a in enumerate(args)
            if not (a == "--rows" and (i + 1 >= len(args) or args[i + 1].startswith("--")))
        ]
        result = _run([name, *args, *small[name]])
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"

    report_dir = next(p.parent for p in tmp_path.rglob("report.html"))
    metrics = json.loads((report_dir / "metrics.json").read_text())
    html = (report_dir / "report.html").read_text()
    assert metrics["n"] > 0
    for name in ("category_accuracy", "title_token_sort_ratio_mean"):
        assert name in metrics["metrics"], sorted(metrics["metrics"])
    assert "majority" in metrics["baselines"]
    assert (report_dir / "predictions.jsonl").read_text().count("\n") == metrics["n"]
    assert "<html" in html.lower() and "http://" not in html.split("<body", 1)[1].split("gallery", 1)[0]
