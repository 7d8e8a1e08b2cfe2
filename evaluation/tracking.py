"""Weights & Biases logging of an evaluation: metrics as the run summary, predictions as a table with images.

The mode follows the policy of every command (``contracts.tracking``); offline runs land under
``REPORT_DIR/wandb/`` and can be uploaded later with ``wandb sync``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from contracts.dataset.images import image_source
from contracts.errors import UserError
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
    """``{"eval/<metric>": value, "eval/<metric>_ci_lo": …, "baseline/<name>/<metric>": …}``, defined only."""
    flat: dict[str, float] = {}
    for name, m in doc["metrics"].items():
        if m["value"] is not None:
            flat[f"eval/{name}"] = m["value"]
        if m.get("ci95"):
            flat[f"eval/{name}_ci_lo"], flat[f"eval/{name}_ci_hi"] = m["ci95"]
    for baseline, entry in doc.get("baselines", {}).items():
        for name, m in entry["metrics"].items():
            if m["value"] is not None:
                flat[f"baseline/{baseline}/{name}"] = m["value"]
    return flat


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
        for row in rows:
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
