"""Prediction rows (what predictions.jsonl holds) and their scoring into each system's metrics.

A row keeps everything needed to score it again without any model: the row's identity and gold fields, and
every system's raw answer to it (None where the system left it unanswered, with the reason beside). The
parsed fields and per-item scores stored with it are recomputed from the raw answers by ``rescore_rows``,
so metrics and reports can always be rebuilt from predictions.jsonl alone, and two systems compared item by
item (every system answered the same rows).

    {"index", "product_code", "file_name", "image_path", "gold": {title, category3_code, full_price},
     "raw": the first system's answer ("" where unanswered: what readers of one model's rows read),
     "answers": {system: text | null}, "unanswered": {system: reason}  (only where some row went unanswered),
     "parsed": {system: {title, category3_code, full_price}}, "scores": {system: {...score_item...}}}
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
    answers: Mapping[str, Sequence[str | None]],
    reasons: Mapping[str, Mapping[int, str]] | None = None,
) -> list[dict]:
    """One row per example with every system's answer, parsed and scored.

    Args:
        records: the split's rows (``product_code``, ``file_name``, ``image_path`` and the gold columns).
        answers: ``{system: [raw answer or None per row]}``, in the systems' order.
        reasons: ``{system: {row: why it went unanswered}}``.
    """
    reasons = reasons or {}
    rows = []
    for i, record in enumerate(records):
        gold = {
            "title": str(record["title"]),
            "category3_code": str(record["category3_code"]),
            "full_price": float(record["full_price"]),  # type: ignore[arg-type]
        }
        row = {
            "index": i,
            "product_code": int(record["product_code"]),  # type: ignore[arg-type]
            "file_name": str(record["file_name"]),
            "image_path": str(record.get("image_path", "")),
            "gold": gold,
            "raw": next((texts[i] or "" for texts in answers.values()), ""),
            "answers": {name: texts[i] for name, texts in answers.items()},
        }
        unanswered = {name: r[i] for name, r in reasons.items() if i in r}
        if unanswered:
            row["unanswered"] = unanswered
        rows.append(row)
    return rescore_rows(rows)


def rescore_rows(rows: Sequence[Mapping]) -> list[dict]:
    """Rows with ``parsed`` and ``scores`` (re)computed from each system's raw answer (an unanswered row
    reads as an empty answer: every field unreadable, scored as wrong)."""
    out = []
    for row in rows:
        parsed = {name: parse_answer(text or "") for name, text in row["answers"].items()}
        out.append(
            {
                **row,
                "parsed": {name: p.to_dict() for name, p in parsed.items()},
                "scores": {name: score_item(p, row["gold"]) for name, p in parsed.items()},
            }
        )
    return out


def check_rows(rows: Sequence[Mapping]) -> None:
    """Raise ``ValueError`` naming the first row that lacks what scoring needs."""
    for n, row in enumerate(rows, 1):
        gold = row.get("gold")
        if not isinstance(gold, Mapping) or any(k not in gold for k in GOLD_FIELDS):
            raise ValueError(f"row {n} lacks gold fields {', '.join(GOLD_FIELDS)}")
        if not isinstance(row.get("answers"), Mapping) or not row["answers"]:
            raise ValueError(f"row {n} holds no answers")


def system_names(rows: Sequence[Mapping]) -> list[str]:
    """The systems whose answers the rows hold, in the order of the first row."""
    return list(rows[0]["answers"]) if rows else []


def score_system(rows: Sequence[Mapping], name: str, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """One system's ``{"metrics", "per_category", "confusion", "answered"}`` over ``rows`` (the metrics in the
    metrics.json shape ``{"value", "ci95", "higher_is_better"}``)."""
    golds = [row["gold"] for row in rows]
    scores = score_items([parse_answer(row["answers"].get(name) or "") for row in rows], golds)
    return {
        "metrics": compute_metrics(scores, n_resamples=n_resamples, seed=seed),
        "per_category": per_category_metrics(scores, n_resamples=n_resamples, seed=seed),
        "confusion": confusion_matrix(scores),
        "answered": sum(row["answers"].get(name) is not None for row in rows),
    }


def system_view(row: Mapping, name: str) -> dict:
    """A row as one system answered it: ``raw``, ``parsed`` and ``scores`` of ``name`` beside the row's
    identity and gold fields (what the report's gallery and the W&B table show)."""
    return {
        **{k: row[k] for k in ("index", "product_code", "file_name", "image_path", "gold") if k in row},
        "raw": row["answers"].get(name) or "",
        "parsed": row["parsed"][name],
        "scores": row["scores"][name],
        "unanswered": (row.get("unanswered") or {}).get(name),
    }
