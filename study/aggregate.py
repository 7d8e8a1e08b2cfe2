"""A study's numbers from its cells' records: groups over seeds, the best group per metric, learning curves
and the data sources side by side. Pure functions of plain data (the cells' cell.json + metrics.json).

A group is one training set x recipe. Its value of a metric is the mean over its seeds; its 95% interval is
Student's t interval over the seeds when there are two or more (the spread training seeds give), and the
cell's own bootstrap interval over test rows when there is one seed (which says nothing of seed noise: the
report says which interval each group has).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

INTERVAL_SEEDS = "t over seeds"
INTERVAL_ROWS = "bootstrap over test rows (one seed)"


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval of the mean of ``values`` (two or more)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


def group_cells(cells: Sequence[Mapping[str, Any]], metric_names: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per group, in the cells' order: its cells, seeds, training rows, time, memory and, per
    metric, mean, sd, n, 95% interval (and which kind), the values per seed.

    Each cell is ``{"record": cell.json, "metrics": metrics.json's "metrics"}``.
    """
    groups: dict[str, dict[str, Any]] = {}
    for cell in cells:
        record = cell["record"]
        entry = groups.setdefault(
            record["group"],
            {
                "group": record["group"],
                "train_set": record["train_set"],
                "recipe": record["recipe_name"],
                "curve": record["curve"],
                "train_rows": record["train_rows"],
                "cells": [],
            },
        )
        entry["cells"].append(cell)
    out = []
    for entry in groups.values():
        cells_ = sorted(entry.pop("cells"), key=lambda c: c["record"]["seed"])
        entry["seeds"] = [c["record"]["seed"] for c in cells_]
        entry["cell_ids"] = [c["record"]["id"] for c in cells_]
        entry["seconds"] = _mean([_total_seconds(c["record"]) for c in cells_])
        entry["peak_memory_mib"] = max(c["record"].get("peak_memory_mib") or 0 for c in cells_) or None
        entry["metrics"] = {name: _metric(cells_, name) for name in metric_names}
        out.append(entry)
    return out


def _total_seconds(record: Mapping[str, Any]) -> float | None:
    parts = [v for v in (record.get("seconds") or {}).values() if v is not None]
    return float(sum(parts)) if parts else None


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _metric(cells: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    values = [(c["metrics"].get(name) or {}).get("value") for c in cells]
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not finite:
        return {"mean": None, "sd": None, "n": 0, "ci95": None, "interval": None, "values": values}
    if len(finite) >= 2:
        ci, kind = seed_interval(finite), INTERVAL_SEEDS
    else:
        ci, kind = (cells[0]["metrics"].get(name) or {}).get("ci95"), INTERVAL_ROWS
    return {
        "mean": float(np.mean(finite)),
        "sd": float(np.std(finite, ddof=1)) if len(finite) >= 2 else None,
        "n": len(finite),
        "ci95": list(ci) if ci is not None else None,
        "interval": kind,
        "values": values,
    }


def best_groups(
    groups: Sequence[Mapping[str, Any]], higher_is_better: Mapping[str, bool]
) -> dict[str, list[str]]:
    """Per metric, the group(s) with the best mean in the metric's direction (ties all best)."""
    best: dict[str, list[str]] = {}
    for name, higher in higher_is_better.items():
        scored = [
            (g["metrics"][name]["mean"], g["group"]) for g in groups if g["metrics"][name]["mean"] is not None
        ]
        if not scored:
            best[name] = []
            continue
        top = max(v for v, _ in scored) if higher else min(v for v, _ in scored)
        # where every group ties, none stands out
        best[name] = [g for v, g in scored if v == top] if len({v for v, _ in scored}) > 1 else []
    return best


def learning_curves(groups: Sequence[Mapping[str, Any]], metric: str) -> dict[str, list[dict[str, Any]]]:
    """One line per data source and recipe (``"curve · recipe"``; the curve alone with one recipe): points
    of (training rows, mean, interval), by rows."""
    recipes = {g["recipe"] for g in groups}
    lines: dict[str, list[dict[str, Any]]] = {}
    for g in groups:
        m = g["metrics"][metric]
        if m["mean"] is None:
            continue
        label = g["curve"] if len(recipes) == 1 else f"{g['curve']} · {g['recipe']}"
        lines.setdefault(label, []).append(
            {"rows": g["train_rows"], "mean": m["mean"], "ci95": m["ci95"], "group": g["group"]}
        )
    return {label: sorted(points, key=lambda p: p["rows"]) for label, points in lines.items()}


def sources_side_by_side(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each data source (curve) and recipe at its largest training set: how well each kind of training data
    carries over to the study's test set (synthetic-trained beside real-trained when both are there)."""
    largest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for g in groups:
        key = (g["curve"], g["recipe"])
        if key not in largest or g["train_rows"] > largest[key]["train_rows"]:
            largest[key] = g
    return [dict(g) for g in largest.values()]
