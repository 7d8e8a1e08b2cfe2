"""Interrupt `datagen synth`, `finetune` and `evaluate` and check what they leave.

    python -m benchmarks.interruptions --rounds 5            # 5 SIGTERM and 5 kill -9 rounds per case
    python -m benchmarks.interruptions --rounds 1 --commands synth,evaluate --seconds 120

Each command first runs once uninterrupted (the reference). `datagen synth` and `evaluate` are then killed
(SIGTERM or SIGKILL) after a delay drawn uniformly within the reference's duration. `finetune` is killed in
each stretch of a run in turn, at a point drawn within it from the run's own progress lines: during the
encoder warm-up, between the warm-up's end and the first step checkpoint, between step checkpoints, and
during the last validation and the export; once as a new run, and once as an `--overwrite` of a finished
run (trained with another seed). Each round checks:

- the output is absent or whole: a DATASET dir byte-identical to the reference; a report whose three files
  are all there and agree; a RUN dir that ``--resume`` can continue; under ``--overwrite``, the replaced run
  byte-identical to what it was (or, killed after the swap, the new run finished);
- the next run into the same output succeeds (``--overwrite`` where an output is there, ``--resume`` for a
  RUN dir) and leaves no temporary sibling, lock or temporary file inside behind;
- finetune: after the resume, ``RUN/model/model.safetensors`` is byte-identical to the uninterrupted run's.

Prints one line per round and a table per case (and, for finetune, per stretch); exits 1 if any check
failed. Everything runs on one CPU thread in a temporary dir (``--workdir`` keeps it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled", "TOKENIZERS_PARALLELISM": "false"}
SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
COMMANDS = ("synth", "finetune", "evaluate")


def cli(package: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"{package}.cli", *args]


def synth_argv(out: Path, overwrite: bool = False) -> list[str]:
    argv = cli(
        "datagen", "synth", "--out", str(out), "--rows", "1500", "--image-size", "64", "--workers", "2"
    )
    return [*argv, "--quiet", *(["--overwrite"] if overwrite else [])]


WARMUP_EPOCHS, STEPS, SAVE_EVERY = 12, 24, 8  # the interrupted runs: checkpoints at steps 8 and 16
STRETCHES = ("warm-up", "before the first checkpoint", "between checkpoints", "validation and export")


def finetune_argv(data: Path, out: Path, *, resume: bool = False, overwrite: bool = False, seed: int = 0):
    argv = cli("finetune", "--data", str(data), "--out", str(out), "--threads", "1")
    argv += [
        "--encoder-warmup",
        str(WARMUP_EPOCHS),
        "--max-steps",
        str(STEPS),
        "--save-every",
        str(SAVE_EVERY),
    ]
    argv += ["--eval-every", str(SAVE_EVERY), "--log-every", "1", "--batch-size", "8", "--seed", str(seed)]
    argv += ["--sample-predictions", "0", "--no-wandb"]  # not --quiet: the progress lines time the kills
    return [*argv, *(["--resume"] if resume else []), *(["--overwrite"] if overwrite else [])]


@dataclass(frozen=True)
class KillPoint:
    """Kill ``delay`` seconds after the progress line that starts with ``after``."""

    stretch: str
    after: str
    delay: float


def kill_point(stretch: str, rng: random.Random, epoch_s: float, step_s: float, tail_s: float) -> KillPoint:
    """A point drawn within ``stretch`` of the interrupted runs (their progress lines and the reference's
    pace: seconds per warm-up epoch, per step, and from the last step's line to the end)."""
    if stretch == "warm-up":
        epoch = rng.randint(1, WARMUP_EPOCHS - 1)
        return KillPoint(stretch, f"encoder warm-up epoch {epoch}/", rng.uniform(0, epoch_s))
    if stretch == "before the first checkpoint":
        step = rng.randint(1, SAVE_EVERY - 1)
    elif stretch == "between checkpoints":
        step = rng.randint(SAVE_EVERY + 1, STEPS - 1)
    else:
        return KillPoint(stretch, f"finetune step {STEPS}/", rng.uniform(0, tail_s))
    return KillPoint(stretch, f"finetune step {step}/", rng.uniform(0, step_s))


def pace(argv: list[str]) -> tuple[float, float, float, float]:
    """Run ``argv`` whole, reading its progress lines: (seconds in all, per warm-up epoch, per step, from
    the last step's line to the summary that follows the export)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    seen: dict[str, float] = {}
    for line in proc.stderr:
        for key in ("encoder warm-up epoch 1/", f"encoder warm-up epoch {WARMUP_EPOCHS}/", "finetune step 1/",
                    f"finetune step {STEPS}/", "finished "):  # fmt: skip
            if line.startswith(key):
                seen[key] = time.monotonic()
    assert proc.wait() == 0, "the reference run failed"
    end = time.monotonic()
    epoch = (seen[f"encoder warm-up epoch {WARMUP_EPOCHS}/"] - seen["encoder warm-up epoch 1/"]) / (
        WARMUP_EPOCHS - 1
    )
    step = (seen[f"finetune step {STEPS}/"] - seen["finetune step 1/"]) / (STEPS - 1)
    return end - start, epoch, step, seen["finished "] - seen[f"finetune step {STEPS}/"]


def interrupt_at(argv: list[str], point: KillPoint, sig: signal.Signals) -> tuple[int | None, str]:
    """Start ``argv``, send ``sig`` at ``point`` (unless it ended first); (exit code, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith(point.after):
            try:
                proc.wait(timeout=point.delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(sig)
            break
    _, rest = proc.communicate(timeout=300)
    return proc.returncode, "".join(lines) + rest


def evaluate_argv(run: Path, data: Path, out: Path, overwrite: bool = False) -> list[str]:
    argv = cli("evaluation", "--model", str(run), "--data", str(data), "--report", str(out), "--no-wandb")
    argv += ["--quiet", "--bootstrap", "200", "--threads", "1"]
    return [*argv, *(["--overwrite"] if overwrite else [])]


def run(argv: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=timeout)


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes (what "byte-identical" means for a dir)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def leftovers(out: Path) -> list[str]:
    """Temporary siblings and locks beside ``out``, and temporary entries inside it."""
    found = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    if out.is_dir():
        found += [str(p.relative_to(out)) for p in out.rglob(".*") if ".tmp-" in p.name or ".old-" in p.name]
    return sorted(found)


def interrupt(argv: list[str], delay: float, sig: signal.Signals) -> tuple[int | None, str]:
    """Start ``argv``, send ``sig`` after ``delay`` seconds (unless it ended first); (exit code, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


@dataclass
class Tally:
    rounds: int = 0
    failures: list[str] = field(default_factory=list)
    finished_before_signal: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def check_synth(out: Path, reference: str) -> tuple[str, list[str]]:
    problems = []
    if out.exists():
        state = "whole" if tree_digest(out) == reference else "DIFFERENT"
        if state != "whole":
            problems.append("the output differs from the uninterrupted run's")
    else:
        state = "absent"
    again = run(synth_argv(out, overwrite=out.exists()))
    if again.returncode != 0:
        problems.append(f"the next run failed: {again.stderr.strip()}")
    elif tree_digest(out) != reference:
        problems.append("the next run's output differs from the reference")
    if leftovers(out):
        problems.append(f"left behind: {leftovers(out)}")
    return state, problems


def check_evaluate(out: Path, argv_again: Callable[[bool], list[str]]) -> tuple[str, list[str]]:
    problems = []
    names = ("report.html", "metrics.json", "predictions.jsonl")
    present = [n for n in names if (out / n).is_file()]
    if not present:
        state = "absent"
    elif len(present) < 3:
        state = "PARTIAL"
        problems.append(f"only {present} written")
    else:
        doc = json.loads((out / "metrics.json").read_text())
        rows = (out / "predictions.jsonl").read_text().splitlines()
        state = "whole" if doc["n"] == len(rows) else "INCONSISTENT"
        if state != "whole":
            problems.append("metrics.json and predictions.jsonl disagree")
    again = run(argv_again(bool(present)))
    if again.returncode != 0:
        problems.append(f"the next run failed: {again.stderr.strip()}")
    if leftovers(out):
        problems.append(f"left behind: {leftovers(out)}")
    return state, problems


def check_finetune(data: Path, out: Path, reference: bytes, replaced: str | None) -> tuple[str, list[str]]:
    """``replaced``: the digest of the finished run an ``--overwrite`` replaced (None for a new run)."""
    problems = []
    model = out / "model" / "model.safetensors"
    pending = out.parent / f".{out.name}.replacement"
    if replaced is not None:
        if model.is_file() and model.read_bytes() == reference:
            state = "finished"
        elif out.is_dir() and tree_digest(out) == replaced:
            state = "old run kept"
        else:
            state = "OLD RUN CHANGED"
            problems.append("the run --overwrite replaces changed before the new one finished")
        work = pending if (pending / "config.json").is_file() else None
    elif not out.exists():
        state, work = "absent", None
    elif (out / "config.json").is_file():
        state = "finished" if model.is_file() else "resumable"
        work = out if state == "resumable" else None
    else:
        state, work = "UNKNOWN", None
        problems.append(f"{out} holds no run: {sorted(p.name for p in out.iterdir())}")
    if state != "finished":
        again = run(
            finetune_argv(data, out, resume=work is not None, overwrite=work is None and out.exists())
        )
        if again.returncode != 0:
            problems.append(f"the {'resumed' if work else 'next'} run failed: {again.stderr.strip()[-300:]}")
    if not model.is_file():
        problems.append("no model after the resume")
    elif model.read_bytes() != reference:
        problems.append("the resumed run's weights differ from the uninterrupted run's")
    if leftovers(out):
        problems.append(f"left behind: {leftovers(out)}")
    return state, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per command and signal")
    parser.add_argument("--commands", default=",".join(COMMANDS), help="which of synth,finetune,evaluate")
    parser.add_argument("--seconds", type=float, default=1800, help="start no new round after this long")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the runs here (default: a temp dir)")
    args = parser.parse_args()
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown command(s) {sorted(unknown)}: choose from {', '.join(COMMANDS)}")
    rng = random.Random(args.seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="interruptions-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"work dir {work}; {args.rounds} round(s) per command and signal; seed {args.seed}")

    data = work / "data"
    made = run(cli("datagen", "synth", "--out", str(data), "--rows", "120", "--image-size", "64", "--quiet"))
    if made.returncode != 0:
        raise SystemExit(f"could not make the dataset: {made.stderr}")
    references: dict[str, tuple[float, object]] = {}
    if "synth" in commands:
        t0 = time.monotonic()
        done = run(synth_argv(work / "ref-synth"))
        assert done.returncode == 0, done.stderr
        references["synth"] = (time.monotonic() - t0, tree_digest(work / "ref-synth"))
    if "finetune" in commands or "evaluate" in commands:
        seconds, *speeds = pace(finetune_argv(data, work / "ref-run"))
        references["finetune"] = (seconds, (work / "ref-run/model/model.safetensors").read_bytes())
        done = run(finetune_argv(data, work / "old-run", seed=1))  # what the --overwrite rounds replace
        assert done.returncode == 0, done.stderr
    if "evaluate" in commands:
        t0 = time.monotonic()
        done = run(evaluate_argv(work / "ref-run", data, work / "ref-eval"))
        assert done.returncode == 0, done.stderr
        references["evaluate"] = (time.monotonic() - t0, None)
    for name in commands:
        print(f"reference {name}: {references[name][0]:.1f} s uninterrupted")

    # every case: (command, what, signal); finetune's "what" is a stretch, new or --overwrite
    cases = []
    for name in commands:
        whats = (
            [f"{s} ({v})" for v in ("new", "overwrite") for s in STRETCHES] if name == "finetune" else ["-"]
        )
        cases += [(name, what, sig_name) for what in whats for sig_name in SIGNALS]
    tallies: dict[tuple[str, str, str], Tally] = {}
    for i in range(args.rounds):
        for name, what, sig_name in cases:
            if time.monotonic() - started > args.seconds:
                break
            sig = SIGNALS[sig_name]
            duration, reference = references[name]
            out = work / f"{name}-{len(tallies)}-{i}"
            if name == "synth":
                delay = rng.uniform(0.05, duration)
                code, err = interrupt(synth_argv(out), delay, sig)
                state, problems = check_synth(out, reference)
                when = f"after {delay:5.1f} s"
            elif name == "finetune":
                point = kill_point(what.split(" (")[0], rng, *speeds)
                replaced = None
                if what.endswith("(overwrite)"):
                    shutil.copytree(work / "old-run", out)
                    replaced = tree_digest(out)
                argv = finetune_argv(data, out, overwrite=replaced is not None)
                code, err = interrupt_at(argv, point, sig)
                state, problems = check_finetune(data, out, reference, replaced)
                when = f"{point.delay:4.2f} s after '{point.after}'"
            else:
                delay = rng.uniform(0.05, duration)
                code, err = interrupt(evaluate_argv(work / "ref-run", data, out), delay, sig)
                state, problems = check_evaluate(
                    out,
                    lambda again, out=out: evaluate_argv(work / "ref-run", data, out, overwrite=again),
                )
                when = f"after {delay:5.1f} s"
            if "Traceback" in err:
                problems.append(f"a traceback on stderr: {err.strip().splitlines()[-1]}")
            tally = tallies.setdefault((name, what, sig_name), Tally())
            tally.rounds += 1
            tally.finished_before_signal += code == 0
            tally.outcomes[state] = tally.outcomes.get(state, 0) + 1
            tally.failures += [f"{out.name}: {p}" for p in problems]
            verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
            label = name if what == "-" else f"{name}, {what}"
            print(f"{label} {sig_name} {when}: exit {code}, output {state}: {verdict}")
            if not args.workdir:
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(out.parent / f".{out.name}.replacement", ignore_errors=True)

    print(
        f"\n{'command':9s} {'stretch (run)':44s} {'signal':8s} rounds  ended first  {'outputs':30s} failures"
    )
    for (name, what, sig_name), t in tallies.items():  # in the order of the run
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(t.outcomes.items()))
        print(f"{name:9s} {what:44s} {sig_name:8s} {t.rounds:6d}  {t.finished_before_signal:11d}  "
              f"{outcomes:30s} {len(t.failures)}")  # fmt: skip
    failures = [f for t in tallies.values() for f in t.failures]
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"{time.monotonic() - started:.0f} s in all")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
