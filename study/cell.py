"""One cell of a study: fine-tune a recipe on a training set with one seed, then evaluate it on the test set.

A cell runs in a process of its own (``run_cell``), so its time and peak memory are its own and a study can
run several side by side. Its files, under OUT/cells/ID:

    run/        the RUN dir (`finetune`); a killed cell goes on from its last checkpoint (--resume)
    eval/       the REPORT dir (`evaluate --model run --data TEST`)
    log.txt     what finetune and evaluate printed
    cell.json   written last: seed, recipe, fingerprints, seconds and peak memory; a cell with it is done
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contracts.outputs import write_json_atomically

CELL_FILE = "cell.json"
RUN, EVAL, LOG = "run", "eval", "log.txt"


@dataclass(frozen=True)
class CellJob:
    """Everything a cell's process needs (plain values: it crosses a process boundary)."""

    id: str
    group: str
    definition: str
    dir: str
    train_set: str
    train_data: str
    train_fingerprint: str
    train_rows: int
    curve: str
    test_data: str
    test_split: str
    test_fingerprint: str
    recipe_name: str
    recipe: str
    fields: tuple[tuple[str, Any], ...]
    seed: int
    threads: int
    wandb: str
    wandb_group: str


def read_cell(cell_dir: Path) -> dict | None:
    """A finished cell's record, or None."""
    from contracts.outputs import read_json_object

    return read_json_object(Path(cell_dir) / CELL_FILE)


def is_done(job: CellJob) -> bool:
    """Whether the cell has finished with exactly this definition and these datasets."""
    record = read_cell(Path(job.dir))
    return bool(
        record
        and record.get("definition") == job.definition
        and record.get("train_fingerprint") == job.train_fingerprint
        and record.get("test_fingerprint") == job.test_fingerprint
    )


def run_cell(job: CellJob) -> dict:
    """Train and evaluate one cell in this process; returns its record, or ``{"interrupted": signal}``.

    Meant for a fresh process per cell (``ProcessPoolExecutor(max_tasks_per_child=1)``): it sets the torch
    threads, ties its life to the study's process and sends what the commands print to ``log.txt``.
    """
    _die_with_parent()
    os.environ["WANDB_RUN_GROUP"] = job.wandb_group  # W&B shows the study's cells as one group
    cell = Path(job.dir)
    cell.mkdir(parents=True, exist_ok=True)
    with (
        open(cell / LOG, "a", encoding="utf-8") as log,
        contextlib.redirect_stderr(log),
        contextlib.redirect_stdout(log),
    ):
        return _run(job, cell)


def _run(job: CellJob, cell: Path) -> dict:
    from contracts import run_layout
    from evaluation.config import EvalConfig
    from evaluation.run import evaluate
    from finetune.loop import train
    from finetune.recipe import from_recipe

    run, report = cell / RUN, cell / EVAL
    started = time.perf_counter()
    finished = (run / run_layout.MODEL_DIR).is_dir()
    if not finished:
        resume = run_layout.is_our_run(run)
        if resume:
            sys.stdout.write(f"cell {job.id}: resuming the fine-tuning in {run} from its last checkpoint\n")
        cfg = from_recipe(
            job.recipe,
            **dict(job.fields),
            data=job.train_data,
            out=str(run),
            seed=job.seed,
            threads=job.threads,
            wandb=job.wandb,
            quiet=True,
            resume=resume,
        )
        result = train(cfg)
        if result.interrupted:
            return {"interrupted": result.interrupted}
    trained = time.perf_counter()
    evaluate(
        EvalConfig(
            model=str(run),
            data=job.test_data,
            split=job.test_split,
            report=str(report / "report.html"),
            baselines="none",
            overwrite=True,
            quiet=True,
            wandb=job.wandb,
        )
    )
    done = time.perf_counter()
    record = {
        **{
            k: v
            for k, v in asdict(job).items()
            if k not in ("dir", "threads", "fields", "wandb", "wandb_group")
        },
        "set": dict(job.fields),
        "threads": job.threads,
        "seconds": {
            "finetune": None if finished else round(trained - started, 2),
            "evaluate": round(done - trained, 2),
        },
        "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json_atomically(cell / CELL_FILE, record)
    return record


def _die_with_parent() -> None:
    """On Linux, have the kernel send this process SIGTERM when the study's process dies, even by kill -9:
    finetune then checkpoints and stops instead of training on for nobody."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
