"""Prediction rows (what predictions.jsonl holds) and their scoring into the metrics document's numbers.

A row keeps everything needed to score it again without the model: the raw generated text, the gold fields,
and the raw answers of the baselines. ``score_predictions`` re-parses the raw texts, so metrics and reports
can always be recomputed from predictions.jsonl alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts.metrics import (
    GOLD_FIELDS,
    compute_metrics,
    confusion_matrix,
    per_category_metrics,
    score_item,
    score_items,
)
from contracts.task import parse_answer


def make_prediction_rows(
    records: Sequence[Mapping[str, object]],
    raw: Sequence[str],
    baseline_raw: Mapping[str, Sequence[str]] | None = None,
) -> list[dict]:
    """One row per example: identity, gold fields, raw text, parsed fields, per-item scores, baseline answers.

    Args:
        records: the split's rows (``product_code``, ``file_name``, ``image_path`` and the gold columns).
        raw: the model's generated text per row.
        baseline_raw: ``{baseline: [answer per row]}``.
    """
    baseline_raw = baseline_raw or {}
    rows = []
    for i, (record, text) in enumerate(zip(records, raw, strict=True)):
        gold = {
            "title": str(record["title"]),
            "category3_code": str(record["category3_code"]),
            "full_price": float(record["full_price"]),  # type: ignore[arg-type]
        }
        parsed = parse_answer(text)
        rows.append(
            {
                "index": i,
                "product_code": int(record["product_code"]),  # type: ignore[arg-type]
                "file_name": str(record["file_name"]),
                "image_path": str(record.get("image_path", "")),
                "gold": gold,
                "raw": text,
                "parsed": parsed.to_dict(),
                "scores": score_item(parsed, gold),
                "baselines": {name: answers[i] for name, answers in baseline_raw.items()},
            }
        )
    return rows


def check_rows(rows: Sequence[Mapping]) -> None:
    """Raise ``ValueError`` naming the first row that lacks what scoring needs."""
    for n, row in enumerate(rows, 1):
        gold = row.get("gold")
        if not isinstance(gold, Mapping) or any(k not in gold for k in GOLD_FIELDS) or "raw" not in row:
            raise ValueError(f"row {n} lacks 'raw' or gold fields {', '.join(GOLD_FIELDS)}")


def score_predictions(rows: Sequence[Mapping], *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Parse and score every row (the model and each baseline found in the rows).

    Returns:
        ``{"n", "metrics", "per_category", "confusion", "baselines": {name: {"metrics": …}}}`` with the
        metrics in the metrics.json shape (``{"value", "ci95", "higher_is_better"}``).
    """
    check_rows(rows)
    golds = [row["gold"] for row in rows]
    scores = score_items([parse_answer(row["raw"]) for row in rows], golds)
    names = sorted({name for row in rows for name in row.get("baselines", {})}, key=_baseline_order)
    baselines = {}
    for name in names:
        answers = [row.get("baselines", {}).get(name, "") for row in rows]
        b_scores = score_items([parse_answer(a) for a in answers], golds)
        baselines[name] = {"metrics": compute_metrics(b_scores, n_resamples=n_resamples, seed=seed)}
    return {
        "n": len(rows),
        "metrics": compute_metrics(scores, n_resamples=n_resamples, seed=seed),
        "per_category": per_category_metrics(scores, n_resamples=n_resamples, seed=seed),
        "confusion": confusion_matrix(scores),
        "baselines": baselines,
    }


def refresh_rows(rows: Sequence[Mapping]) -> list[dict]:
    """Rows with ``parsed`` and ``scores`` recomputed from ``raw`` (after a parser or scorer change)."""
    out = []
    for row in rows:
        parsed = parse_answer(row["raw"])
        out.append({**row, "parsed": parsed.to_dict(), "scores": score_item(parsed, row["gold"])})
    return out


def _baseline_order(name: str) -> tuple[int, str]:
    from evaluation.baselines import BASELINES

    return (BASELINES.index(name), name) if name in BASELINES else (len(BASELINES), name)
