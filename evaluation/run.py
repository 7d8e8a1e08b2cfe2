"""``evaluate(cfg) -> EvalResult``: the arrow from a model and a DATASET split to a REPORT.

    OUT/report.html        self-contained report (reports.render_report)
    OUT/metrics.json       model, dataset, split, n, metrics with 95% intervals, per category, baselines, …
    OUT/predictions.jsonl  one row per example: raw text, parsed and gold fields, scores, baseline answers

The three files are written to temporary siblings first and renamed only when all are complete, so a failed
run leaves the previous report (or nothing), never half of one. ``--from-predictions`` re-scores and
re-renders from predictions.jsonl (and the metrics.json beside it) without the model or the dataset.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from contracts.dataset import layout
from contracts.errors import UserError
from contracts.outputs import (
    EVALUATION_PAGE,
    check_replaceable_file,
    claim_output,
    json_with_keys,
    our_page,
    write_files_atomically,
)
from evaluation import baselines as bl
from evaluation import provenance, shards
from evaluation.config import EvalConfig
from evaluation.predict import load_model_for, mirror_views, resolve_model_spec, run_model
from evaluation.scoring import check_rows, make_prediction_rows, refresh_rows, score_predictions

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
SCHEMA_VERSION = 1


@dataclass
class OutputPaths:
    """Where the three report files go (all in one dir)."""

    report: Path
    metrics: Path
    predictions: Path

    @property
    def directory(self) -> Path:
        return self.report.parent


@dataclass
class EvalResult:
    """What an evaluation produced: the metrics document, the prediction rows, and where they were written."""

    document: dict
    rows: list[dict]
    paths: OutputPaths | None = None
    wandb_dir: str | None = None

    @property
    def metrics(self) -> dict:
        return self.document["metrics"]


def resolve_report_path(report: str | Path, default_name: str = REPORT_FILE) -> Path:
    """The HTML file ``--report`` names, checked to be writable without creating anything yet.

    ``report`` is a file name ending in ``.html``/``.htm``, or a dir (existing, or given without a suffix),
    which gets ``default_name``.

    Raises:
        UserError: the path or an ancestor is a file, or the nearest existing ancestor is not writable.
    """
    path = Path(report).expanduser().absolute()
    if path.is_dir() or path.suffix.lower() not in (".html", ".htm"):
        path = path / default_name
    directory = path.parent
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write the report under {existing}: it is a file; choose another --report")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {existing} (permission denied): choose another --report")
    return path


def resolve_outputs(report: str | Path, overwrite: bool = False) -> OutputPaths:
    """The three report files ``--report`` names, checked (``resolve_report_path``, ``check_report_files``).

    Raises:
        UserError: see both functions.
    """
    path = resolve_report_path(report)
    paths = OutputPaths(path, path.parent / METRICS_FILE, path.parent / PREDICTIONS_FILE)
    check_report_files(paths, overwrite)
    return paths


def _is_predictions(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and "raw" in first and "gold" in first


def check_report_files(paths: OutputPaths, overwrite: bool) -> None:
    """Refuse to replace a report file this project did not write, or one it did without ``overwrite``."""
    recognisers = {
        paths.report: our_page(EVALUATION_PAGE),
        paths.metrics: json_with_keys("schema_version", "metrics"),
        paths.predictions: _is_predictions,
    }
    for path, recognise in recognisers.items():
        check_replaceable_file(path, recognise, overwrite=overwrite, what="report file", flag="--report")


def _progress_bar(cfg: EvalConfig, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, unit="item", disable=cfg.quiet or not sys.stderr.isatty(), leave=False
    )


# -- data ------------------------------------------------------------------------------------------------


def _load_data(cfg: EvalConfig, need_train: bool) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    from contracts.dataset.reader import available_splits, read_info, read_split

    eval_df = read_split(cfg.data, cfg.split)
    if len(eval_df) == 0:
        raise UserError(f"split {cfg.split!r} of {cfg.data} has no rows: choose another --split")
    if cfg.limit:
        eval_df = eval_df.iloc[: cfg.limit].reset_index(drop=True)
    splits = available_splits(cfg.data)
    train_df = read_split(cfg.data, "train") if need_train and "train" in splits else None
    try:
        info = read_info(cfg.data)
    except UserError:
        info = {}
    meta = {
        "path": str(Path(cfg.data).expanduser().absolute()),
        "fingerprint": layout.dataset_fingerprint(cfg.data),
        "splits": splits,
        "generator": info.get("generator"),
        "generator_version": info.get("version"),
        "seed": info.get("seed"),
    }
    return eval_df, train_df, meta


# -- baselines -------------------------------------------------------------------------------------------


def run_baselines(
    names: list[str], cfg: EvalConfig, eval_df: pd.DataFrame, train_df: pd.DataFrame | None, notes: list[str]
) -> tuple[dict[str, list[str]], dict[str, float]]:
    """Answers of each runnable baseline; those that cannot run here are skipped with a note."""
    from contracts.dataset.reader import load_image, read_latents
    from evaluation.features import embed_images

    answers: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    runnable = []
    for name in names:
        if name in bl.NEEDS_TRAIN and (train_df is None or len(train_df) == 0):
            notes.append(f"baseline {name} skipped: the dataset has no train split")
        else:
            runnable.append(name)
    features = None
    if any(n in bl.NEEDS_FEATURES for n in runnable):
        start = time.perf_counter()
        paths = list(train_df["image_path"]) + list(eval_df["image_path"])
        with _progress_bar(cfg, len(paths), "image features") as bar:
            x = embed_images(paths, load_image, bar.update)
        features = (x[: len(train_df)], x[len(train_df) :], time.perf_counter() - start)
    for name in runnable:
        start = time.perf_counter()
        if name == "majority":
            answers[name] = bl.majority_answers(train_df, len(eval_df))
        elif name == "nearest":
            answers[name] = bl.nearest_answers(train_df, features[0], features[1])
        elif name == "probe":
            answers[name] = bl.probe_answers(train_df, features[0], features[1], seed=cfg.seed)
        elif name == "oracle":
            latents = read_latents(cfg.data)
            if latents is None:
                notes.append(f"baseline oracle skipped: {cfg.data} has no {layout.LATENTS_FILE} (real data)")
                continue
            try:
                answers[name] = bl.oracle_answers(eval_df, latents)
            except UserError as exc:
                notes.append(f"baseline oracle skipped: {exc}")
                continue
        seconds[name] = (
            time.perf_counter() - start + (features[2] if features and name in bl.NEEDS_FEATURES else 0)
        )
    return answers, seconds


# -- the arrow -------------------------------------------------------------------------------------------


def evaluate(cfg: EvalConfig) -> EvalResult | None:
    """Score ``cfg.model`` (and the baselines) on ``cfg.split`` of ``cfg.data``; write the report if asked.

    Under torchrun every process generates its share of the answers and the first one does the rest; the
    others return None.

    Raises:
        UserError: missing dataset, split, columns, model or latents; an unwritable report path.
    """
    procs = shards.start_processes()  # None unless launched by torchrun with several processes
    sync = _Sync(procs)
    try:
        if procs is not None and not procs.is_main:
            return _generate_share(cfg, procs, sync)
        paths = resolve_outputs(cfg.report, cfg.overwrite) if cfg.report else None
        claim = claim_output(paths.report, flag="--report") if paths else contextlib.nullcontext()
        with claim:
            if paths is not None:
                check_report_files(paths, cfg.overwrite)  # again, holding the lock
            return _evaluate(cfg, paths, sync)
    except BaseException:
        sync.failed()
        raise
    finally:
        shards.stop_processes(procs)


class _Sync:
    """Says once, for this process, whether it got ready to generate (``shards.ready``)."""

    def __init__(self, procs) -> None:
        self.procs, self.done = procs, False

    def ready(self) -> None:
        if not self.done:
            self.done = True
            shards.ready(self.procs)

    def failed(self) -> None:
        if not self.done:
            self.done = True
            shards.ready(self.procs, failed=True)


def _generate_share(cfg: EvalConfig, procs, sync: _Sync) -> None:
    """A process other than the first under torchrun: generate this process's share of the answers."""
    model_meta = resolve_model_spec(cfg)
    if cfg.from_predictions or model_meta["kind"] != "model":
        sync.ready()
        return None
    eval_df, train_df, _ = _load_data(cfg, need_train=True)
    loaded = load_model_for(cfg, model_meta, device=procs.device)
    sync.ready()
    run_model(cfg, *loaded, eval_df, train_df, mirror=mirror_views(cfg, model_meta), procs=procs)
    return None


def _evaluate(cfg: EvalConfig, paths: OutputPaths | None, sync: _Sync) -> EvalResult:
    from contracts.tracking import resolve_wandb_mode

    notes: list[str] = []
    wandb_mode = resolve_wandb_mode(cfg.wandb)  # before the work: online without a key fails at once
    if wandb_mode == "offline" and paths is None:
        notes.append("W&B offline logging skipped: give --report to keep its files beside the report")
        wandb_mode = None
    if cfg.from_predictions:
        doc_base, rows = _load_predictions(cfg.from_predictions)
        sync.ready()
        rows = refresh_rows(rows)
        notes += [n for n in doc_base.get("notes", []) if n not in notes]
    else:
        doc_base, rows = _predict(cfg, notes, sync)
    scored = score_predictions(rows, n_resamples=cfg.bootstrap, seed=cfg.seed)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "model": doc_base["model"],
        "dataset": doc_base["dataset"],
        "split": doc_base["split"],
        "n": scored["n"],
        "metrics": scored["metrics"],
        "per_category": scored["per_category"],
        "confusion": scored["confusion"],
        "baselines": {
            name: {**entry, "seconds": doc_base.get("baseline_seconds", {}).get(name)}
            for name, entry in scored["baselines"].items()
        },
        "bootstrap": {
            "n_resamples": cfg.bootstrap,
            "seed": cfg.seed,
            "confidence": 0.95,
            "method": "percentile",
        },
        "speed": doc_base.get("speed", {}),
        "config": asdict(cfg),
        "code": provenance.code_info(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "notes": notes,
    }
    if cfg.from_predictions:
        doc["rescored_from"] = str(Path(cfg.from_predictions).absolute())
        doc["source_config"] = doc_base.get("config")
    result = EvalResult(document=doc, rows=rows, paths=paths)
    if paths is not None:
        write_report(doc, rows, paths, gallery=cfg.gallery, seed=cfg.seed)
    result.wandb_dir = _log_wandb(cfg, wandb_mode, doc, rows, paths)
    return result


def _predict(cfg: EvalConfig, notes: list[str], sync: _Sync) -> tuple[dict, list[dict]]:
    model_meta = resolve_model_spec(cfg)
    names = [n for n in cfg.baseline_names() if n != model_meta["spec"]]
    if model_meta["kind"] == "baseline":
        names = [model_meta["spec"], *names]
    need_train = model_meta["kind"] == "model" or any(n in bl.NEEDS_TRAIN for n in names)
    eval_df, train_df, data_meta = _load_data(cfg, need_train)
    if model_meta.get("train_fingerprint") and model_meta["train_fingerprint"] != data_meta["fingerprint"]:
        notes.append("the model was trained on another dataset (its fingerprint differs from this one's)")
    if model_meta.get("train_fingerprint") == data_meta["fingerprint"] and cfg.split == "train":
        notes.append("scoring on the split the model was trained on: expect optimistic numbers")
    # The model is loaded before the baselines run, so a bad --model fails fast.
    procs = sync.procs
    device = procs.device if procs is not None else None
    loaded = load_model_for(cfg, model_meta, device=device) if model_meta["kind"] == "model" else None
    sync.ready()
    if model_meta["kind"] == "model":
        mirror = mirror_views(cfg, model_meta)
        with _progress_bar(cfg, len(shards.my_rows(procs, len(eval_df))), "generating") as bar:
            raw, speed = run_model(
                cfg, *loaded, eval_df, train_df, progress=bar.update, mirror=mirror, procs=procs
            )
        if speed.get("fallback"):
            notes.append(speed["fallback"])
    started = time.perf_counter()
    answers, seconds = run_baselines(names, cfg, eval_df, train_df, notes)
    baselines_wall = time.perf_counter() - started
    if model_meta["kind"] == "baseline":
        if model_meta["spec"] not in answers:
            raise UserError(f"baseline {model_meta['spec']} cannot run on {cfg.data}: " + "; ".join(notes))
        raw = answers.pop(model_meta["spec"])
        took = seconds.pop(model_meta["spec"])
        speed = {"samples_per_s": len(raw) / took if took > 0 else None, "seconds": took, "device": "cpu"}
    records = eval_df.to_dict(orient="records")
    rows = make_prediction_rows(records, raw, answers)
    speed["baselines_seconds"] = baselines_wall  # all baselines, shared image features counted once
    base = {"model": model_meta, "dataset": data_meta, "split": cfg.split, "speed": speed,
            "baseline_seconds": seconds}  # fmt: skip
    return base, rows


def _load_predictions(path: str | Path) -> tuple[dict, list[dict]]:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / PREDICTIONS_FILE
    if not path.is_file():
        raise UserError(f"no such predictions file: {path} (run `evaluate --report OUT` first)")
    rows = []
    lineno = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 (lineno names the bad line below)
                if line.strip():
                    rows.append(json.loads(line))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{lineno}: not valid JSON ({exc.msg}): rerun the evaluation") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    try:
        check_rows(rows)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}: it is not an evaluate predictions file") from None
    if not rows:
        raise UserError(f"{path} holds no predictions: rerun the evaluation")
    doc: dict = {}
    metrics_path = path.parent / METRICS_FILE
    if metrics_path.is_file():
        try:
            doc = json.loads(metrics_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            doc = {}
    base = {
        "model": doc.get("model") or {"name": path.parent.name, "spec": None, "kind": "model"},
        "dataset": doc.get("dataset") or {},
        "split": doc.get("split", "?"),
        "speed": doc.get("speed", {}),
        "config": doc.get("config"),
        "notes": doc.get("notes", []),
        "baseline_seconds": {k: v.get("seconds") for k, v in doc.get("baselines", {}).items()},
    }
    return base, rows


def write_report(
    doc: dict, rows: list[dict], paths: OutputPaths, *, gallery: int = 12, seed: int = 0
) -> None:
    """Render the report and write report.html, metrics.json and predictions.jsonl together."""
    from evaluation.report import build_report_context
    from reports import render_report

    page = render_report(build_report_context(doc, rows, gallery=gallery, seed=seed))
    metrics = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    predictions = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    write_files_atomically(
        {
            paths.predictions: predictions.encode("utf-8"),
            paths.metrics: metrics.encode("utf-8"),
            paths.report: page.encode("utf-8"),
        },
        flag="--report",
    )


def _log_wandb(
    cfg: EvalConfig, mode: str | None, doc: dict, rows: list[dict], paths: OutputPaths | None
) -> str | None:
    """Log to W&B in ``mode`` (None: not at all): offline files go under the report's dir; without a
    report (online only) a temporary dir holds W&B's files while it uploads."""
    import tempfile

    from evaluation.tracking import log_evaluation

    if mode is None:
        return None
    if paths is not None:
        return log_evaluation(doc, rows, mode=mode, project=cfg.wandb_project, directory=paths.directory)
    with tempfile.TemporaryDirectory(prefix="evaluate-wandb-") as tmp:
        log_evaluation(doc, rows, mode=mode, project=cfg.wandb_project, directory=Path(tmp))
    return None
