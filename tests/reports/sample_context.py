"""A complete, hostile report context built from plain values: shared by the HTML and browser tests."""

from __future__ import annotations

import copy
from functools import cache

from PIL import Image

from reports import plots
from reports.embed import image_data_uri

HOSTILE = "<script>alert(1)</script>"


def _cell(value, ci=None, best=False):
    return {"value": value, "ci95": ci, "best": best}


def report_context() -> dict:
    """A copy of the sample report context (built once: its plots take a moment to draw)."""
    return copy.deepcopy(_cached_report_context())


@cache
def _cached_report_context() -> dict:
    return build_report_context()


def build_report_context() -> dict:
    """A report of one model and one baseline, with a hostile title in the gallery and the categories."""
    image = image_data_uri(Image.new("RGB", (64, 64), (180, 40, 40)))
    systems = [{"name": "tiny-run", "kind": "model"}, {"name": "majority", "kind": "baseline"}]
    headline = [
        {
            "name": "category_accuracy",
            "label": "Category accuracy",
            "fmt": "pct",
            "higher_is_better": True,
            "cells": [_cell(0.8125, [0.75, 0.87], True), _cell(0.25, [0.2, 0.3])],
        },
        {
            "name": "price_mape",
            "label": "Price MAPE",
            "fmt": "pct",
            "higher_is_better": False,
            "cells": [_cell(0.1234, [0.1, 0.15], True), _cell(0.6, [0.5, 0.7])],
        },
        {
            "name": "price_mae_usd",
            "label": "Price MAE",
            "fmt": "usd",
            "higher_is_better": False,
            "cells": [_cell(1290.0, [1000.0, 1500.0], True), _cell(4321.5, None)],
        },
    ]
    return {
        "title": f"Evaluation of {HOSTILE}",
        "subtitle": "test split, 4 items",
        "generated_at": "2026-11-24T07:00:00Z",
        "generator": "evaluate 0.1.0",
        "notes": [],
        "cards": [{"label": "Category accuracy", "value": 0.8125, "fmt": "pct", "ci95": [0.75, 0.87]}],
        "bootstrap": {"n_resamples": 1000, "seed": 0},
        "systems": systems,
        "headline": headline,
        "metric_groups": [
            {"title": "Category", "rows": headline[:1]},
            {"title": "Price", "rows": headline[1:]},
        ],
        "per_category": {
            "note": "per gold category",
            "columns": [
                {"name": "category_accuracy", "label": "accuracy", "fmt": "pct", "higher_is_better": True}
            ],
            "rows": [{"category": HOSTILE, "n": 4, "cells": [_cell(0.5, [0.0, 1.0])]}],
        },
        "confusion": {
            "uri": plots.heatmap([[3, 1], [0, 4]], ["A", HOSTILE], ["A", HOSTILE], title="confusion"),
            "caption": "rows: true, columns: predicted",
            "top": [{"gold": "A", "pred": HOSTILE, "count": 1}],
        },
        "plots": [
            {
                "title": "scatter",
                "uri": plots.price_scatter([100, 200, 1290], [110, 150, 1300]),
                "caption": "log",
            },
            {"title": "javascript", "uri": "javascript:alert(1)", "caption": "must become a placeholder"},
        ],
        "galleries": [
            {
                "title": "Worst items",
                "note": "",
                "samples": [
                    {
                        "image_uri": image,
                        "caption": "12345678",
                        "fields": [
                            {
                                "name": "title",
                                "gold": HOSTILE,
                                "pred": "Check Scarf",
                                "ok": False,
                                "detail": "41",
                            },
                            {"name": "category", "gold": "SCARVES", "pred": None, "ok": False},
                            {"name": "price", "gold": "$1,290.00", "pred": "$1,290.00", "ok": True},
                        ],
                        "raw": f"Product: {HOSTILE}",
                    }
                ],
            }
        ],
        "metadata": [["model", HOSTILE], ["samples/s", "12.5"], ["dataset", {"fingerprint": "abc"}]],
        "config": {"model": HOSTILE, "split": "test"},
        "board": _board(),
    }


def _board() -> dict:
    from evaluation.compare_page import build_board

    return build_board(hostile_comparison())


def hostile_comparison() -> dict:
    """A comparison (as comparison.json holds it) of systems and categories with hostile names."""
    from contracts.metrics import score_items
    from contracts.task import ParsedAnswer
    from evaluation.leaderboard import System, build_comparison

    golds = [{"title": HOSTILE, "category3_code": c, "full_price": 100.0 + i}
             for i, c in enumerate([HOSTILE, "N.A.", "SCARVES"] * 4)]  # fmt: skip
    right = [ParsedAnswer(g["title"], g["category3_code"], g["full_price"]) for g in golds]
    wrong = [ParsedAnswer("x", "y", 5.0) for _ in golds]
    systems = [
        System("run-a", score_items(right, golds)),
        System(HOSTILE, score_items(wrong, golds), "baseline"),
        System("oracle", score_items(right, golds), "ceiling"),
    ]
    comparison = build_comparison(systems, n_resamples=100)
    comparison.update(split="test", dataset={"path": HOSTILE, "fingerprint": "abc"},
                      inputs=[{"name": HOSTILE, "role": "baseline", "input": HOSTILE}],
                      notes=[f"different datasets: {HOSTILE}"])  # fmt: skip
    return comparison


def comparison_context() -> dict:
    """The compare page's context of ``hostile_comparison``."""
    from evaluation.compare_page import build_compare_context

    return build_compare_context(hostile_comparison())
