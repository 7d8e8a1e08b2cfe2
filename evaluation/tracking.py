"""Weights & Biases logging of an evaluation: metrics as the run summary, predictions as a table with images.

The mode follows the policy of every command (``contracts.tracking``); offline runs land under
``REPORT_DIR/wandb/`` and can be uploaded later with ``wandb sync`` (an ``--overwrite`` run replaces the
earlier ones there instead of piling up beside them).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from contracts.dataset.images import image_source
from contracts.errors import UserError
from evaluation.scoring import system_view
from reports.embed import thumbnail

TABLE_COLUMNS = (
    "product_code",
    "image",
    "true_title",
    "pred_title",
    "title_similarity",
    "true_category",
    "pred_category",
    "category_correct",
    "true_price",
    "pred_price",
    "price_ape",
    "raw",
)


def flatten_metrics(doc: Mapping) -> dict[str, float]:
    """``{"eval/<metric>": value, "eval/<metric>_ci_lo": …, "<kind>/<name>/<metric>": …}`` (the first
    system under ``eval/``, every other under its kind and name, e.g. ``baseline/majority/…``), defined
    values only."""
    flat: dict[str, float] = {}
    for name, m in doc["metrics"].items():
        if m["value"] is not None:
            flat[f"eval/{name}"] = m["value"]
        if m.get("ci95"):
            flat[f"eval/{name}_ci_lo"], flat[f"eval/{name}_ci_hi"] = m["ci95"]
    others = doc.get("systems", [])[1:] or [
        {"name": b, "kind": "baseline", **entry} for b, entry in doc.get("baselines", {}).items()
    ]
    for system in others:
        for name, m in system["metrics"].items():
            if m["value"] is not None:
                flat[f"{system.get('kind') or 'system'}/{system['name']}/{name}"] = m["value"]
    return flat


def log_to_wandb(
    doc: Mapping, rows: Sequence[Mapping], mode: str, project: str, paths: Any, overwrite: bool
) -> str | None:
    """Log to W&B in ``mode``: offline files go under the report's dir (an ``--overwrite`` run first drops the
    runs an earlier one left there); without a report (online only) a temporary dir holds W&B's files while
    it uploads. Returns the local run dir kept beside the report, if any."""
    from evaluation.outputs import drop_old_wandb_runs

    if paths is not None:
        if overwrite:
            drop_old_wandb_runs(paths.directory)
        return log_evaluation(doc, rows, mode=mode, project=project, directory=paths.directory)
    with tempfile.TemporaryDirectory(prefix="evaluate-wandb-") as tmp:
        log_evaluation(doc, rows, mode=mode, project=project, directory=Path(tmp))
    return None


def log_evaluation(
    doc: Mapping,
    rows: Sequence[Mapping],
    *,
    mode: str,
    project: str,
    directory: str | Path,
    images: bool = True,
) -> str:
    """Log ``doc``'s metrics and the prediction table to a new W&B run; returns the run's local dir.

    Raises:
        UserError: wandb could not start (e.g. online without credentials).
    """
    import wandb

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        run = wandb.init(
            project=project,
            name=f"eval-{doc['model'].get('name', 'model')}-{doc.get('split', '')}",
            job_type="evaluate",
            mode=mode,
            dir=str(directory),
            config={"eval": doc.get("config", {}), "dataset": doc.get("dataset", {}), "model": doc["model"]},
            settings=wandb.Settings(silent=True, console="off"),
        )
    except Exception as exc:  # wandb raises many types for "cannot start" (no key, no network, bad project)
        raise UserError(
            f"cannot start W&B in {mode} mode ({exc}): use --wandb offline or --no-wandb"
        ) from None
    try:
        table = wandb.Table(columns=list(TABLE_COLUMNS))
        first = doc["model"].get("name")
        for row in rows:
            row = system_view(row, first) if "answers" in row else row
            gold, parsed, scores = row["gold"], row["parsed"], row["scores"]
            image = None
            source = image_source(row.get("image_path")) if images else None  # a path, or parquet bytes
            if source:
                try:
                    image = wandb.Image(thumbnail(source, 128))
                except OSError:
                    image = None
            table.add_data(
                row["product_code"],
                image,
                gold["title"],
                parsed["title"],
                scores["title_token_sort_ratio"],
                gold["category3_code"],
                parsed["category3_code"],
                bool(scores["category_correct"]),
                gold["full_price"],
                parsed["full_price"],
                scores["price_ape"],
                row["raw"],
            )
        flat = flatten_metrics(doc)
        run.log({"predictions": table, **flat})
        run.summary.update(flat)
        run_dir = str(Path(run.dir).parent)
    finally:
        run.finish()
    return run_dir
