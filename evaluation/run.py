"""``evaluate(cfg) -> EvalResult``: the arrow from systems and a DATASET split to a REPORT, a straight line.

    check the W&B setting     contracts.tracking      a bad setting is one line before any work
    resolve the systems       evaluation.systems      every --model and baseline, once (or the recorded ones)
    claim the output          evaluation.outputs      REPORT/ under a lock, replaceable or refused
    read the rows             evaluation.data         the split (or the rows predictions.jsonl recorded)
    let each system answer    System.prepare/answer   every system, the same rows
    score                     evaluation.scoring      each system's metrics, per category, confusion
    write                     evaluation.outputs      report.html, metrics.json, predictions.jsonl together
    track                     evaluation.tracking     W&B, when asked

Under torchrun every process answers its share of the rows for the systems that shard (our models), and
the first one does the rest; the others return None.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from contracts.errors import UserError
from contracts.outputs import claim_output
from contracts.tracking import resolve_wandb_mode, wandb_asked_for
from evaluation import outputs, provenance, shards
from evaluation.config import EvalConfig
from evaluation.data import EvalSet
from evaluation.scoring import make_prediction_rows, score_system
from evaluation.systems import Answers, System, progress_bar


@dataclass
class EvalResult:
    """What an evaluation produced: the metrics document, the prediction rows, and where they were written."""

    document: dict
    rows: list[dict]
    paths: outputs.OutputPaths | None = None
    wandb_dir: str | None = None

    @property
    def metrics(self) -> dict:
        return self.document["metrics"]


def evaluate(cfg: EvalConfig) -> EvalResult | None:
    """Let every system ``cfg`` names answer the rows of ``cfg.split`` of ``cfg.data`` (or re-score the
    answers ``cfg.from_predictions`` recorded), score them, and write the report if asked.

    Raises:
        UserError: a bad W&B setting; missing dataset, split, columns, model, latents or server; an unwritable
            or foreign report path; a system that answered no row at all.
    """
    procs = shards.start_processes()  # None unless launched by torchrun with several processes
    sync = shards.Sync(procs)
    systems: list[System] = []
    try:
        wandb_mode = resolve_wandb_mode(cfg.wandb)  # before the work: a bad setting fails at once
        notes: list[str] = []
        if cfg.from_predictions:
            data, systems, notes = _recorded(cfg.from_predictions)
        else:
            from evaluation.systems import resolve_systems

            systems = resolve_systems(cfg, procs)
        if procs is not None and not procs.is_main:
            return _answer_share(cfg, systems, sync)
        paths = outputs.resolve_outputs(cfg.report, cfg.overwrite) if cfg.report else None
        if wandb_mode == "offline" and paths is None:
            if wandb_asked_for(cfg.wandb):
                notes.append("W&B offline logging skipped: give --report to keep its files beside the report")
            wandb_mode = None
        with claim_output(paths.report, flag="--report") if paths else contextlib.nullcontext():
            if paths is not None:
                outputs.check_report_files(paths, cfg.overwrite)  # again, holding the lock
            if not cfg.from_predictions:
                from evaluation.data import read_eval_set

                data = read_eval_set(cfg.data, cfg.split, cfg.limit)
            systems, answers = _answer(systems, data, cfg, sync, notes)
            rows = make_prediction_rows(
                data.rows.to_dict(orient="records"),
                {s.name: a.texts for s, a in zip(systems, answers, strict=True)},
                {s.name: a.reasons for s, a in zip(systems, answers, strict=True) if a.reasons},
            )
            doc = _document(cfg, data, systems, answers, rows, notes)
            if paths is not None:
                from evaluation.report import render

                outputs.write_report(doc, rows, render(doc, rows, gallery=cfg.gallery, seed=cfg.seed), paths)
        result = EvalResult(document=doc, rows=rows, paths=paths)
        if wandb_mode is not None:
            from evaluation.tracking import log_to_wandb

            result.wandb_dir = log_to_wandb(doc, rows, wandb_mode, cfg.wandb_project, paths, cfg.overwrite)
        return result
    except BaseException:
        sync.failed()
        raise
    finally:
        for system in systems:
            system.close()
        shards.stop_processes(procs)


def _recorded(path: str) -> tuple[EvalSet, list[System], list[str]]:
    """The rows a predictions.jsonl recorded, the systems that answer from it, and what could not be read."""
    from evaluation.data import recorded_eval_set
    from evaluation.systems import Recorded

    rows, doc, notes = outputs.read_predictions(path)
    data = recorded_eval_set(rows, doc)
    systems = [Recorded(info, rows) for info in outputs.recorded_systems(doc, rows)]
    notes = [n for n in doc.get("notes", []) if isinstance(n, str)] + notes
    return data, systems, notes


def _answer(
    systems: list[System], data: EvalSet, cfg: EvalConfig, sync: shards.Sync, notes: list[str]
) -> tuple[list[System], list[Answers]]:
    """Prepare every system (a system named by --baselines that cannot run here is dropped with a note),
    then let each answer every row.

    Raises:
        UserError: a system that cannot run, or one that answered no row at all.
    """
    ready = []
    for system in systems:
        try:
            system.prepare(data)
        except UserError as exc:
            if not system.optional:
                raise
            notes.append(f"baseline {system.name} skipped: {exc}")
            continue
        ready.append(system)
    sync.ready()
    answers = []
    for system in ready:
        share = len(shards.my_rows(sync.procs, len(data))) if system.shards else len(data)
        start = time.perf_counter()
        with progress_bar(share, system.name, cfg.quiet) as bar:
            answered = system.answer(data, progress=bar.update)
        answered.speed["wall_s"] = time.perf_counter() - start
        if answered.answered == 0:
            first = next(iter(answered.reasons.values()), "no answer came back")
            raise UserError(f"{system.name} answered none of the {len(data)} rows ({first})")
        if answered.reasons:
            first = next(iter(answered.reasons.values()))
            notes.append(
                f"{system.name} left {len(answered.reasons)} of {len(data)} rows unanswered (e.g. {first}); "
                "they count as wrong, and predictions.jsonl names each row's reason"
            )
        notes += [n for n in answered.notes if n not in notes]
        answers.append(answered)
    return ready, answers


def _answer_share(cfg: EvalConfig, systems: list[System], sync: shards.Sync) -> None:
    """A process other than the first under torchrun: answer this process's share for the systems that
    shard; the first process does the rest."""
    from evaluation.data import read_eval_set

    sharded = [s for s in systems if s.shards]
    if not sharded:
        sync.ready()
        return None
    data = read_eval_set(cfg.data, cfg.split, cfg.limit)
    for system in sharded:
        system.prepare(data)
    sync.ready()
    for system in sharded:
        system.answer(data)
    return None


def _document(
    cfg: EvalConfig, data: EvalSet, systems: list[System], answers: list[Answers], rows: list[dict],
    notes: list[str],
) -> dict:  # fmt: skip
    """metrics.json: every system with its metrics under ``systems``; the first one's also at the top level
    (``model``, ``metrics``, ``per_category``, ``confusion``, ``speed``) and the baselines' under
    ``baselines``, the keys ``evaluate compare`` and readers of schema 1 know."""
    entries = []
    for system, answered in zip(systems, answers, strict=True):
        scored = score_system(rows, system.name, n_resamples=cfg.bootstrap, seed=cfg.seed)
        speed = {"samples_per_s": len(data) / answered.seconds if answered.seconds > 0 else None,
                 "seconds": answered.seconds, **answered.speed}  # fmt: skip
        entries.append({**system.info, **scored, "unanswered": len(answered.reasons), "speed": speed})
    first = entries[0]
    doc = {
        "schema_version": outputs.SCHEMA_VERSION,
        "model": {k: v for k, v in first.items() if k not in _SCORES},
        "dataset": data.dataset,
        "split": data.split,
        "n": len(rows),
        "metrics": first["metrics"],
        "per_category": first["per_category"],
        "confusion": first["confusion"],
        "baselines": {
            e["name"]: {"metrics": e["metrics"], "seconds": e["speed"]["seconds"]}
            for e in entries[1:]
            if e.get("kind") == "baseline"
        },
        "systems": entries,
        "bootstrap": {
            "n_resamples": cfg.bootstrap,
            "seed": cfg.seed,
            "confidence": 0.95,
            "method": "percentile",
        },
        "speed": first["speed"],
        "config": asdict(cfg),
        "code": provenance.code_info(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": notes,
    }
    if cfg.from_predictions:
        doc["rescored_from"] = str(Path(cfg.from_predictions).absolute())
    return doc


_SCORES = ("metrics", "per_category", "confusion", "answered", "unanswered", "speed")
