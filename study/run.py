"""``run_study(cfg)``: expand a study file into cells, make its datasets, run the cells, write the report.

    OUT/study.json      the study as run: its definition, its cells (what a later run compares with)
    OUT/study.yaml      the file as given
    OUT/data/NAME/      the DATASET dirs the study made (NAME.json beside each: its definition)
    OUT/cells/ID/       one cell: run/ (RUN dir), eval/ (REPORT dir), log.txt, cell.json (done)
    OUT/systems/NAME/   the systems scored beside the cells on the test set (REPORT dirs)
    OUT/report.html, results.json, results.md   the study's report (``study.report``)

A finished cell is never run again; a killed study goes on at the cells it had not finished, inside their
fine-tuning (from the last checkpoint). Changing the file adds or drops cells, and the run says which; a cell
whose definition changed (its training set, recipe, seed or the datasets' content) is run again. Cells run in
processes of their own, ``--jobs`` at a time; ``--cell I/N`` runs every N-th cell from the I-th, so N jobs of
a cluster array cover the study once and share its datasets (the first to need one makes it).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from contracts.errors import EXIT_SIGINT, EXIT_USER_ERROR, Terminated, UserError
from contracts.outputs import (
    OutputBusy,
    OutputKind,
    OutputLock,
    check_replaceable,
    claim_output,
    remove_leftovers,
    write_files_atomically,
    write_json_atomically,
    written_by,
)
from study import __version__
from study.cell import CellJob, is_done, read_cell, run_cell
from study.datasets import TEST_NAME, Prepared, prepare_all
from study.spec import Cell, Study, cells, load_study, share

STATE_FILE = "study.json"
GENERATOR = "study run"
CELLS, SYSTEMS, DATA = "cells", "systems", "data"
STUDY_KIND = OutputKind(
    what="study dir",
    marker=STATE_FILE,
    entries=(STATE_FILE, "study.yaml", DATA, CELLS, SYSTEMS, "report.html", "results.json", "results.md"),
    recognise=written_by(GENERATOR),
)


@dataclass
class StudyConfig:
    """`study run`: the study file, where it goes, how many cells at once, which share of the cells."""

    file: str
    out: str
    jobs: int = 1
    cell: str | None = None
    threads: int = 1
    wandb: str = "off"
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {self.jobs}")
        if self.threads < 1:
            raise UserError(f"--threads must be at least 1, got {self.threads}")


@dataclass
class StudyResult:
    out: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # finished before
    busy: list[str] = field(default_factory=list)  # being run by another job
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: str | None = None
    report: Path | None = None


def run_study(cfg: StudyConfig, say=print) -> StudyResult:
    """Run the cells of ``cfg.file`` (this job's share of them) into ``cfg.out`` and write the report.

    Raises:
        UserError: a bad study file, an --out that holds something else (another study included), a
            dataset that cannot be made, a test set that shares rows with a training set.
    """
    study = load_study(cfg.file)
    out = Path(cfg.out).expanduser().absolute()
    grid = cells(study)
    mine = share(grid, cfg.cell)
    _open(out, study, grid, say)
    ready = prepare_all(study, out, sorted({c.train.name for c in mine}), quiet=True, say=say)
    jobs = [_job(study, out, cell, ready, cfg) for cell in mine]
    result = StudyResult(out)
    todo = []
    for job in jobs:
        if is_done(job):
            result.skipped.append(job.id)
            continue
        record = read_cell(Path(job.dir))
        if record is not None:  # finished once, with another definition or other data: run it again
            say(f"cell {job.id}: its definition or data changed since it ran: running it again")
            shutil.rmtree(job.dir)
        todo.append(job)
    if result.skipped:
        say(f"{len(result.skipped)} cell(s) finished before: kept")
    _run_cells(todo, cfg.jobs, result, say)
    if result.interrupted is None:
        _score_systems(study, out, ready[TEST_NAME], cfg, result, say)
        from study.report import write_report

        result.report = write_report(out)
    return result


def _open(out: Path, study: Study, grid: list[Cell], say) -> None:
    """Claim ``out`` for this study (or join the study already there) and record it; say what changed."""
    state = out / STATE_FILE
    with OutputLock(out, "--out").acquire(wait=True):  # the other jobs of a study wait a moment here
        remove_leftovers(out)
        if out.exists() and any(out.iterdir()) and not state.is_file():
            check_replaceable(out, STUDY_KIND, overwrite=False)  # says what is wrong with it
        before = json.loads(state.read_text(encoding="utf-8")) if state.is_file() else None
        if before is not None:
            if not STUDY_KIND.is_ours(out):
                raise UserError(
                    f"--out {out} holds a {STATE_FILE} this project did not write: choose another --out"
                )
            if before.get("study", {}).get("test") != study.describe()["test"]:
                raise UserError(
                    f"--out {out} holds another study ({before.get('title')!r}, another test set): "
                    "choose another --out"
                )
            old = before.get("cells", {})
            new = {c.id: c.definition for c in grid}
            added = [c for c in new if c not in old]
            dropped = [c for c in old if c not in new]
            changed = [c for c in new if c in old and old[c] != new[c]]
            for what, ids in (("added", added), ("dropped", dropped), ("changed", changed)):
                if ids:
                    more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
                    note = (
                        " (their results stay under cells/, outside the report)" if what == "dropped" else ""
                    )
                    say(f"{len(ids)} cell(s) {what} since the last run: {', '.join(ids[:3])}{more}{note}")
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomically(
            state,
            {
                "generator": GENERATOR,
                "version": __version__,
                "title": study.title,
                "file": str(study.path.absolute()),
                "study": study.describe(),
                "cells": {c.id: c.definition for c in grid},
                "order": [c.id for c in grid],  # the grid's order (the file's), which the report keeps
            },
        )
        write_files_atomically({out / "study.yaml": study.path.read_bytes()}, flag="--out")


def _job(study: Study, out: Path, cell: Cell, ready: dict, cfg: StudyConfig) -> CellJob:
    train = ready[cell.train.name]
    test = ready[TEST_NAME]
    return CellJob(
        id=cell.id,
        group=cell.group,
        definition=cell.definition,
        dir=str(out / CELLS / cell.id),
        train_set=cell.train.name,
        train_data=str(train.path),
        train_fingerprint=train.fingerprint,
        train_rows=train.rows.get("train", 0),
        curve=cell.train.curve,
        test_data=str(test.path),
        test_split=study.test_split,
        test_fingerprint=test.fingerprint,
        recipe_name=cell.recipe.name,
        recipe=cell.recipe.recipe,
        fields=cell.recipe.fields,
        seed=cell.seed,
        threads=cfg.threads,
        wandb=cfg.wandb,
        wandb_group=f"study {study.title}"[:120],
    )


# -- cells in processes of their own ---------------------------------------------------------------------


def _cell_process(job: CellJob) -> None:
    """A cell's process: its exit code says how it ended (0 done, 130/143 stopped, 2 user error, 3 busy)."""
    from contracts.errors import raise_on_sigterm

    raise_on_sigterm()
    try:
        with claim_output(Path(job.dir), flag="cell"):
            record = run_cell(job)
    except OutputBusy:
        sys.exit(3)
    except UserError as exc:
        (Path(job.dir) / "error.txt").write_text(f"{exc}\n", encoding="utf-8")
        sys.exit(EXIT_USER_ERROR)
    except (KeyboardInterrupt, Terminated):
        sys.exit(EXIT_SIGINT)
    if "interrupted" in record:
        sys.exit(EXIT_SIGINT)


def _run_cells(todo: list[CellJob], jobs: int, result: StudyResult, say) -> None:
    context = multiprocessing.get_context("spawn")
    pending = list(todo)
    running: dict[Any, tuple[CellJob, float]] = {}
    total, launched = len(todo), 0
    try:
        while pending or running:
            while pending and len(running) < jobs and result.interrupted is None:
                job = pending.pop(0)
                process = context.Process(target=_cell_process, args=(job,), name=f"cell {job.id}")
                process.start()
                running[process] = (job, time.monotonic())
                launched += 1
                say(f"cell {launched}/{total} {job.id}: started")
            if not running:
                break
            for sentinel in wait([p.sentinel for p in running], timeout=1.0):
                process = next(p for p in running if p.sentinel == sentinel)
                process.join()
                job, started = running.pop(process)
                _collect(job, process.exitcode, time.monotonic() - started, result, say)
    except (KeyboardInterrupt, Terminated) as exc:
        result.interrupted = "SIGINT" if isinstance(exc, KeyboardInterrupt) else "SIGTERM"
        for process in running:  # each cell checkpoints its fine-tuning and stops
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process, (job, started) in list(running.items()):
            process.join()
            _collect(job, process.exitcode, time.monotonic() - started, result, say)
        raise


def _collect(job: CellJob, code: int | None, seconds: float, result: StudyResult, say) -> None:
    if code == 0:
        result.ran.append(job.id)
        say(f"cell {job.id}: done in {_duration(seconds)}{_headline(job)}")
    elif code == 3:
        result.busy.append(job.id)
        say(f"cell {job.id}: another job of this study is running it")
    elif code in (EXIT_SIGINT, -signal.SIGTERM, 143):
        result.interrupted = result.interrupted or "stopped"
        say(f"cell {job.id}: stopped after {_duration(seconds)}; its fine-tuning goes on at the next run")
    else:
        error = Path(job.dir) / "error.txt"
        line = error.read_text(encoding="utf-8").strip() if error.is_file() else f"exit code {code}"
        result.failed[job.id] = line
        say(f"cell {job.id}: FAILED: {line} (see {Path(job.dir) / 'log.txt'})")


def _headline(job: CellJob) -> str:
    path = Path(job.dir) / "eval" / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    except (OSError, ValueError, KeyError):
        return ""
    parts = []
    for name, label, scale, unit in (
        ("category_accuracy", "category", 1, ""),
        ("title_token_sort_ratio_mean", "title", 1, ""),
        ("price_median_ape", "median price error", 100, "%"),
    ):
        value = (metrics.get(name) or {}).get("value")
        if isinstance(value, int | float):
            parts.append(f"{label} {value * scale:.3g}{unit}")
    return f" ({', '.join(parts)})" if parts else ""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


# -- systems scored beside the cells ---------------------------------------------------------------------


def _score_systems(
    study: Study, out: Path, test: Prepared, cfg: StudyConfig, result: StudyResult, say
) -> None:
    """Each of the study's systems answers the test set once (a REPORT dir under OUT/systems)."""
    from evaluation.config import EvalConfig
    from evaluation.run import evaluate

    for system in study.systems:
        name = "".join(ch if ch.isalnum() or ch in "._+-" else "_" for ch in system)[:64]
        report = out / SYSTEMS / name
        record = out / SYSTEMS / f"{name}.json"  # what the report dir beside it answered, on which data
        expected = {"system": system, "test": str(test.path), "test_fingerprint": test.fingerprint}
        if record.is_file() and json.loads(record.read_text(encoding="utf-8")) == expected:
            continue
        try:
            evaluate(
                EvalConfig(
                    model=system,
                    data=str(test.path),
                    split=study.test_split,
                    report=str(report),
                    baselines="none",
                    overwrite=True,
                    quiet=True,
                    wandb=cfg.wandb,
                )
            )
        except UserError as exc:
            result.failed[f"system {system}"] = str(exc)
            say(f"system {system}: FAILED: {exc}")
            continue
        write_json_atomically(record, expected)
        say(f"system {system}: scored on the test set")
