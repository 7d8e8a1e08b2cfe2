"""The context of the compare page (``compare.html.j2``), built from a comparison dict and nothing else.

Every figure on the page is a value of comparison.json, formatted by the page's filters; the extra keys here
only arrange them (table rows, the chart, the notes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts.metrics import GROUPS, normalize_category
from evaluation.comparison_text import describe, headline_metrics, rank_label
from reports import plots

SOURCE_LABEL = "N.A"  # normalised form of the source's own category3_code "N.A."
SOURCE_LABEL_NOTE = (
    "“N.A.” is a category3_code of the source data itself (the DBQ catalogue's label for products whose "
    "category2 has no subcategory): it is kept as the data spells it and scored like any other category, "
    "not a missing value."
)
CHART_FORMAT = "pct"  # the chart shows the shares of items right, whose differences share one unit


def source_label_note(labels: Sequence[str]) -> str | None:
    """The note that explains the literal "N.A." category, when one of ``labels`` is it."""
    return SOURCE_LABEL_NOTE if any(normalize_category(x) == SOURCE_LABEL for x in labels) else None


def system_header(row: Mapping) -> dict:
    """A column header: the system's name and its tags (role, reference)."""
    tags = [row["role"]] + (["reference"] if row["reference"] else [])
    return {"name": row["name"], "kind": " · ".join(tags)}


def build_compare_context(comparison: Mapping) -> dict:
    """The compare page's context: title, notes and the ``board`` (see ``build_board``)."""
    data = comparison.get("dataset") or {}
    return {
        "title": f"Comparison of {len(comparison['leaderboard'])} systems",
        "subtitle": f"{comparison.get('split') or '?'} split of {data.get('path') or '?'} · "
        f"{comparison['n']} items · fingerprint {str(data.get('fingerprint') or '')[:12]}",
        "generator": "evaluate compare",
        "notes": list(comparison.get("notes", [])),
        "board": build_board(comparison),
    }


def build_board(comparison: Mapping) -> dict:
    """The leaderboard, differences, per-category verdicts, all-metrics tables and chart of a comparison
    (the ``board`` the compare page and a REPORT page draw with the ``_macros`` of the same names)."""
    metrics = comparison["metrics"]
    board = comparison["leaderboard"]
    comparisons = comparison["comparisons"]
    groups = []
    for key, title in GROUPS.items():
        rows = []
        for m in metrics:
            if m["group"] == key:
                cells = [row["metrics"][m["name"]] for row in board]
                rows.append({**m, "cells": cells})
        if rows:
            groups.append({"title": title, "rows": rows})
    differences = [{**m, "cells": [c["metrics"][i] for c in comparisons]} for i, m in enumerate(metrics)]
    labels = [r["category"] for r in comparisons[0]["per_category"]] if comparisons else []
    return {
        "summary": describe(comparison),
        "reference": comparison["reference"],
        "alpha": comparison["alpha"],
        "method": comparison["method"],
        "bootstrap": comparison["bootstrap"],
        "headline": headline_metrics(comparison),
        "leaderboard": [{**row, "rank_label": rank_label(row)} for row in board],
        "systems": [system_header(row) for row in board],
        "metric_groups": groups,
        "others": [{"name": c["system"], "role": c["role"]} for c in comparisons],
        "differences": differences,
        "categories": _category_rows(comparisons),
        "category_note": source_label_note(labels),
        "plots": _plots(comparison),
        "input_columns": [
            {"key": "name", "label": "system"},
            {"key": "role", "label": "role"},
            {"key": "kind", "label": "kind"},
            {"key": "spec", "label": "spec"},
            {"key": "input", "label": "from"},
        ],
        "inputs": [
            {k: s.get(k) or "—" for k in ("name", "role", "kind", "spec", "input")}
            for s in comparison.get("inputs", [])
        ],  # fmt: skip
    }


def _category_rows(comparisons: Sequence[Mapping]) -> list[dict]:
    """One row per gold category (largest first): the reference's accuracy and each system's comparison."""
    if not comparisons:
        return []
    first = comparisons[0]["per_category"]
    order = sorted(range(len(first)), key=lambda k: (-first[k]["n"], first[k]["category"]))
    return [
        {"category": first[k]["category"], "n": first[k]["n"], "reference_value": first[k]["reference_value"],
         "cells": [c["per_category"][k] for c in comparisons]}
        for k in order
    ]  # fmt: skip


def _plots(comparison: Mapping) -> list[dict]:
    comparisons = comparison["comparisons"]
    shares = [(i, m) for i, m in enumerate(comparison["metrics"])
              if m["fmt"] == CHART_FORMAT and m["higher_is_better"]]  # fmt: skip
    if not comparisons or not shares:
        return []
    series = {}
    for c in comparisons:
        values = []
        for i, _ in shares:
            d = c["metrics"][i]
            ok = d["difference"] is not None and d["ci95"] is not None
            values.append((100 * d["difference"], 100 * d["ci95"][0], 100 * d["ci95"][1]) if ok else None)
        series[c["system"]] = values
    uri = plots.difference_intervals(
        [m["label"] for _, m in shares],
        series,
        title=f"Differences to {comparison['reference']} (95% paired bootstrap intervals)",
        xlabel="percentage points (system − reference); right of 0: higher share",
    )
    caption = (
        "The metrics measured as shares of items. An interval that does not cross 0 is a difference the rows "
        "support before the correction for many metrics; the verdicts in the table apply Holm's correction."
    )
    return [{"title": "Paired differences", "uri": uri, "caption": caption}]
