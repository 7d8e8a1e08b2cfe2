"""Turn a metrics document and its prediction rows into the plain dict that ``reports.render_report`` draws.

The metric tables and the bar chart hold every system, side by side on the same rows; the per-category
table, the confusion matrix, the price plots and the galleries show the first system (the first
``--model``), and the run metadata lists every system with its source, speed and answered rows.

Everything here is pure except reading the gallery images (through ``reports.embed``, which falls back to a
placeholder when an image is gone, so a report re-rendered elsewhere still renders).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from contracts.dataset.images import image_source
from contracts.metrics import (
    GROUPS,
    HEADLINE,
    METRICS,
    METRICS_BY_NAME,
    PER_CATEGORY,
    TITLE_GOOD,
    top_confusions,
)
from evaluation.compare_page import build_board, source_label_note
from evaluation.leaderboard import build_comparison, role_of, systems_from_rows
from evaluation.scoring import system_view
from reports import plots
from reports.embed import image_data_uri_or_placeholder

CARDS = ("category_accuracy", "title_token_sort_ratio_mean", "price_median_ape", "parse_rate")
MAX_CONFUSION_LABELS = 40
THUMB_SIZE = 128


def render(doc: Mapping, rows: Sequence[Mapping], *, gallery: int = 12, seed: int = 0) -> str:
    """The report page of ``doc`` and its prediction rows, as one self-contained HTML string."""
    from reports import render_report

    return render_report(build_report_context(doc, rows, gallery=gallery, seed=seed))


def systems_of(doc: Mapping) -> list[dict]:
    """Column headers: every system, the first ``--model`` first; ``kind`` is the role (model, baseline, or
    ceiling for the oracle: the answers synthetic data allows, not a competitor)."""
    return [
        {"name": s["name"], "kind": role_of(s.get("spec") or s["name"], s.get("kind")), "key": s["name"]}
        for s in doc["systems"]
    ]


def metric_row(name: str, values: Sequence[Mapping | None], contenders: Sequence[bool] | None = None) -> dict:
    """One table row: a metric's cells across systems, the best one(s) among the ``contenders`` marked
    (default: all; a ceiling is not one)."""
    spec = METRICS_BY_NAME[name]
    cells = [{"value": (v or {}).get("value"), "ci95": (v or {}).get("ci95"), "best": False} for v in values]
    competing = [True] * len(cells) if contenders is None else list(contenders)
    finite = [c["value"] for c, ok in zip(cells, competing, strict=True) if ok and _finite(c["value"])]
    if len(finite) > 1:
        best = max(finite) if spec.higher_is_better else min(finite)
        for c, ok in zip(cells, competing, strict=True):
            c["best"] = (
                ok and _finite(c["value"]) and math.isclose(c["value"], best, rel_tol=1e-12, abs_tol=1e-12)
            )
    return {
        "name": name,
        "label": spec.label,
        "fmt": spec.fmt,
        "higher_is_better": spec.higher_is_better,
        "description": spec.description,
        "cells": cells,
    }


def report_comparison(doc: Mapping, rows: Sequence[Mapping]) -> dict | None:
    """The leaderboard and paired verdicts of the systems that answered the same rows (the first is the
    reference); None with one system. Resampled as the metrics were (same count and seed), so the
    intervals equal those of metrics.json."""
    from evaluation.outputs import recorded_systems

    if not rows or len(rows[0].get("answers") or {}) < 2:
        return None
    systems = systems_from_rows(rows, recorded_systems(dict(doc), list(rows)))
    boot = doc.get("bootstrap") or {}
    comparison = build_comparison(systems, n_resamples=int(boot.get("n_resamples", 1000)),
                                  seed=int(boot.get("seed", 0)))  # fmt: skip
    data = doc.get("dataset") or {}
    comparison["split"] = doc.get("split")
    comparison["dataset"] = {"path": data.get("path"), "fingerprint": data.get("fingerprint")}
    comparison["inputs"] = [{"name": s.name, "role": s.role, **s.source} for s in systems]
    return comparison


def _system_metrics(doc: Mapping) -> list[Mapping]:
    return [s["metrics"] for s in doc["systems"]]


def build_report_context(
    doc: Mapping, rows: Sequence[Mapping], *, gallery: int = 12, seed: int = 0, images: bool = True
) -> dict:
    """The context of ``report.html.j2`` (see ``reports.html.render_report``)."""
    per_system = _system_metrics(doc)
    systems = systems_of(doc)
    contenders = [s["kind"] != "ceiling" for s in systems]
    model_name = systems[0]["name"]
    comparison = report_comparison(doc, rows)
    rows = [system_view(row, model_name) for row in rows]  # the first system's answers
    groups = []
    for key, title in GROUPS.items():
        names = [m.name for m in METRICS if m.group == key]
        metric_rows = [metric_row(n, [s.get(n) for s in per_system], contenders) for n in names]
        groups.append({"title": title, "rows": metric_rows})
    cards = []
    for name in CARDS:
        spec, metric = METRICS_BY_NAME[name], doc["metrics"][name]
        cards.append({"label": spec.label, "value": metric["value"], "fmt": spec.fmt, "ci95": metric["ci95"]})
    return {
        "title": f"Evaluation: {model_name}",
        "subtitle": _subtitle(doc),
        "generated_at": doc.get("created_at", ""),
        "generator": f"evaluate {doc.get('code', {}).get('version', '')}".strip(),
        "notes": list(doc.get("notes", [])) + list((comparison or {}).get("notes", [])),
        "cards": cards,
        "bootstrap": doc.get("bootstrap", {"n_resamples": 0, "seed": 0}),
        "systems": systems,
        "headline": [metric_row(n, [s.get(n) for s in per_system], contenders) for n in HEADLINE],
        "comparison": comparison,
        "board": build_board(comparison) if comparison else None,
        "metric_groups": groups,
        "per_category": _per_category(doc),
        "confusion": _confusion(doc),
        "plots": _plots(doc, rows, systems, per_system),
        "galleries": _galleries(rows, gallery, seed, images),
        "metadata": _metadata(doc) + _systems_metadata(doc),
        "config": doc.get("config", {}),
    }


def _subtitle(doc: Mapping) -> str:
    data = doc.get("dataset", {})
    return (
        f"{doc.get('split', '?')} split of {data.get('path', '?')} · {doc.get('n', 0)} items · "
        f"fingerprint {str(data.get('fingerprint', ''))[:12]}"
    )


def _per_category(doc: Mapping) -> dict:
    columns = [
        {"name": n, "label": METRICS_BY_NAME[n].label, "fmt": METRICS_BY_NAME[n].fmt,
         "higher_is_better": METRICS_BY_NAME[n].higher_is_better}
        for n in PER_CATEGORY
    ] + [
        {"name": "precision", "label": "Category precision", "fmt": "pct", "higher_is_better": True},
        {"name": "f1", "label": "Category F1", "fmt": "float3", "higher_is_better": True},
    ]  # fmt: skip
    rows = []
    per_cat = doc.get("per_category", {})
    for category in sorted(per_cat, key=lambda c: (-per_cat[c]["n"], c)):
        entry = per_cat[category]
        cells = [
            dict(entry["metrics"].get(n, {"value": None, "ci95": None}), best=False) for n in PER_CATEGORY
        ]
        cells += [{"value": entry.get("precision"), "ci95": None, "best": False},
                  {"value": entry.get("f1"), "ci95": None, "best": False}]  # fmt: skip
        rows.append({"category": category, "n": entry["n"], "cells": cells})
    note = (
        "Rows are the gold categories, largest first. Accuracy within a category is its recall; precision "
        "counts every item predicted as that category. Intervals: 95% bootstrap within the category."
    )
    return {"columns": columns, "rows": rows, "note": note, "source_note": source_label_note(list(per_cat))}


def _confusion(doc: Mapping) -> dict:
    confusion = doc.get("confusion") or {"labels": [], "pred_labels": [], "matrix": []}
    labels, cols, matrix = confusion["labels"], confusion["pred_labels"], confusion["matrix"]
    caption = "Rows: true category3_code; columns: predicted (unreadable answers in their own column)."
    if len(labels) > MAX_CONFUSION_LABELS or len(cols) > MAX_CONFUSION_LABELS:
        keep_rows = sorted(range(len(labels)), key=lambda i: -sum(matrix[i]))[:MAX_CONFUSION_LABELS]
        col_totals = [sum(matrix[i][j] for i in range(len(labels))) for j in range(len(cols))]
        keep_cols = sorted(range(len(cols)), key=lambda j: -col_totals[j])[:MAX_CONFUSION_LABELS]
        keep_rows.sort()
        keep_cols.sort()
        labels = [labels[i] for i in keep_rows]
        cols_kept = [cols[j] for j in keep_cols]
        matrix = [[matrix[i][j] for j in keep_cols] for i in keep_rows]
        cols = cols_kept
        caption += f" Only the {MAX_CONFUSION_LABELS} largest rows and columns are drawn."
    uri = plots.heatmap(matrix, labels, cols, title="Category confusion", xlabel="predicted", ylabel="true")
    return {"uri": uri if labels else "", "caption": caption, "top": top_confusions(confusion, 12)}


def _plots(doc: Mapping, rows: Sequence[Mapping], systems: Sequence[Mapping], per_system) -> list[dict]:
    true = [r["gold"]["full_price"] for r in rows]
    pred = [r["parsed"]["full_price"] for r in rows]
    pairs = [(t, p) for t, p in zip(true, pred, strict=True) if _finite(p) and p > 0 and t > 0]
    log_ratio = [math.log10(p / t) for t, p in pairs]
    ratios = [r["scores"]["title_token_sort_ratio"] for r in rows]
    share_names = ["category_accuracy", "title_share_ge_90", "title_exact_match", "price_within_25pct"]
    series = {
        s["name"]: [(m.get(n) or {}).get("value") or 0.0 for n in share_names]
        for s, m in zip(systems, per_system, strict=True)
    }
    median = float(np.median(log_ratio)) if log_ratio else None
    return [
        {
            "title": "Predicted vs true price",
            "uri": plots.price_scatter(true, pred, title="Predicted vs true price (log scale)"),
            "caption": f"{len(pairs)} of {len(rows)} items with a parsed positive price; the band is ±25%.",
        },
        {
            "title": "Price error distribution",
            "uri": plots.histogram(
                log_ratio,
                bins=30,
                title="Price error: log10(predicted / true)",
                xlabel="log10(predicted / true); 0 = exact, ±0.1 ≈ ±26%",
                vlines={"exact": 0.0, "median": median} if median is not None else {"exact": 0.0},
            ),
            "caption": "Left of zero: the price was underestimated; right: overestimated.",
        },
        {
            "title": "Title similarity distribution",
            "uri": plots.histogram(
                ratios,
                bins=list(range(0, 105, 5)),
                title="Title similarity (token_sort_ratio)",
                xlabel="token_sort_ratio (0–100); unreadable title = 0",
                vlines={f"counted right: similarity ≥ {TITLE_GOOD:.0f}": TITLE_GOOD},
                vline_values=False,
            ),
            "caption": "How close each predicted title is to the true one.",
        },
        {
            "title": "Systems side by side",
            "uri": plots.grouped_bars(
                [METRICS_BY_NAME[n].label for n in share_names], series, title="Shares (higher is better)",
                ylabel="share of items", horizontal=True,
            ),
            "caption": "Each system's share of items right, on the same split.",
        },
    ]  # fmt: skip


def badness(row: Mapping) -> float:
    """How wrong an answer is, for ordering the gallery: 0 (all right) to 3 (all wrong or unreadable)."""
    scores = row["scores"]
    ape = scores.get("price_ape")
    price_bad = 1.0 if ape is None else min(float(ape), 1.0)
    return (
        (0.0 if scores["category_correct"] else 1.0)
        + (100.0 - scores["title_token_sort_ratio"]) / 100
        + price_bad
    )


def gallery_item(row: Mapping, images: bool = True) -> dict:
    """One gallery card: thumbnail, and per field the truth, the prediction and whether it is right."""
    gold, parsed, scores = row["gold"], row["parsed"], row["scores"]
    price_pred = parsed.get("full_price")
    ape = scores.get("price_ape")
    signed = None if price_pred is None or not gold["full_price"] else price_pred / gold["full_price"] - 1
    uri = image_data_uri_or_placeholder(image_source(row.get("image_path")), THUMB_SIZE) if images else ""
    return {
        "image_uri": uri,
        "caption": _caption(row),
        "fields": [
            {"name": "title", "gold": gold["title"], "pred": parsed.get("title"),
             "ok": scores["title_token_sort_ratio"] >= TITLE_GOOD,
             "detail": f"similarity {scores['title_token_sort_ratio']:.0f}"},
            {"name": "category", "gold": gold["category3_code"], "pred": parsed.get("category3_code"),
             "ok": bool(scores["category_correct"]), "detail": ""},
            {"name": "price", "gold": f"${gold['full_price']:,.2f}",
             "pred": None if price_pred is None else f"${price_pred:,.2f}",
             "ok": ape is not None and ape <= 0.25 + 1e-9,
             "detail": "" if signed is None else f"{signed:+.0%}"},
        ],
        "raw": _shorten(_raw_text(row), 300),
    }  # fmt: skip


def _caption(row: Mapping) -> str:
    """The product code, and the image's file name only when it says more than ``<code>.jpg``."""
    code, file_name = str(row.get("product_code", "")), str(row.get("file_name", ""))
    stem = file_name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return code if not file_name or stem == code else f"{code} · {file_name}"


def _raw_text(row: Mapping) -> str:
    return f"(unanswered: {row['unanswered']})" if row.get("unanswered") else str(row.get("raw", ""))


def _galleries(rows: Sequence[Mapping], n: int, seed: int, images: bool) -> list[dict]:
    if n <= 0 or not rows:
        return []
    worst = sorted(range(len(rows)), key=lambda i: (-badness(rows[i]), i))[:n]
    rng = np.random.default_rng(seed)
    sample = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False).tolist())
    return [
        {
            "title": f"The {len(worst)} worst answers",
            "note": "Ordered by errors: wrong category, title distance and price error (capped at 100%). "
            "Green: right (title similarity ≥ 90, price within ±25%); red: wrong or unreadable.",
            "samples": [gallery_item(rows[i], images) for i in worst],
        },
        {
            "title": f"A random sample of {len(sample)}",
            "note": f"Drawn with seed {seed}, in split order.",
            "samples": [gallery_item(rows[i], images) for i in sample],
        },
    ]


def _metadata(doc: Mapping) -> list[list]:
    model, data, speed, code = (doc.get(k, {}) for k in ("model", "dataset", "speed", "code"))
    sps = speed.get("samples_per_s")
    pairs = [
        ["model", model.get("name")],
        ["model spec", model.get("spec")],
        ["model path", model.get("path") or "—"],
        ["run dir", model.get("run") or "—"],
        ["trained on (fingerprint)", model.get("train_fingerprint") or "—"],
        ["dataset", data.get("path")],
        ["dataset fingerprint", data.get("fingerprint")],
        ["split", f"{doc.get('split')} ({doc.get('n')} items)"],
        ["speed", f"{sps:.2f} samples/s over {speed.get('seconds', 0):.1f} s" if _finite(sps) else "—"],
        ["device", speed.get("device") or "—"],
        ["decoding", _decoding(model)],
        ["created", doc.get("created_at")],
        ["code version", code.get("version")],
        ["git commit", code.get("git_commit") or "unknown"],
        ["versions", code.get("packages", {})],
    ]
    return [[k, "—" if v is None else v] for k, v in pairs]


def _decoding(model: Mapping) -> str:
    return model.get("decoding") or "—"


def _systems_metadata(doc: Mapping) -> list[list]:
    """One line per system: what it is, where it came from, how many rows it answered and how fast."""
    lines = []
    n = doc.get("n", 0)
    for s in doc["systems"]:
        speed = s.get("speed") or {}
        sps = speed.get("samples_per_s")
        parts = [
            s.get("kind") or "?",
            str(s.get("spec") or s["name"]),
            f"answered {n - int(s.get('unanswered') or 0)} of {n}",
            f"{sps:.2f} rows/s" if _finite(sps) else "",
            s.get("decoding") or "",
        ]
        lines.append([f"system {s['name']}", " · ".join(p for p in parts if p)])
    return lines


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
