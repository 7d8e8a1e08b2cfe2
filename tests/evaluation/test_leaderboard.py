"""The leaderboard: ranking, the ceiling shown apart, the best among the others, the reference's verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from contracts.metrics import METRICS, score_items
from contracts.task import ParsedAnswer
from evaluation.leaderboard import System, build_comparison, role_of

CATS = ["TRENCH COATS", "SCARVES", "SNEAKERS", "TOTES"]


def _golds(n: int) -> list[dict]:
    return [
        {"title": f"Check Wool Scarf {i % 5}", "category3_code": CATS[i % 4], "full_price": 100.0 + 10 * i}
        for i in range(n)
    ]


def _system(name: str, role: str, golds: list[dict], right: float, price_factor: float = 1.0, seed: int = 0):
    """Right in category and title on the first ``right`` share of rows; prices off by ``price_factor``."""
    k = round(right * len(golds))
    answers = [
        ParsedAnswer(g["title"], g["category3_code"], g["full_price"] * price_factor) if i < k
        else ParsedAnswer("Other", "WRONG", g["full_price"] * price_factor)
        for i, g in enumerate(golds)
    ]  # fmt: skip
    return System(name, score_items(answers, golds), role)


def _cells(comparison: dict, metric: str) -> dict:
    return {row["name"]: row["metrics"][metric] for row in comparison["leaderboard"]}


def test_ranking_ceiling_and_best():
    """Ranked by category accuracy; the oracle first as the unranked ceiling, never best; best marked among
    the others; the reference's verdicts shown beside each value."""
    golds = _golds(120)
    systems = [
        _system("run", "model", golds, 0.8),
        _system("majority", "baseline", golds, 0.25, price_factor=2.0),
        _system("oracle", "ceiling", golds, 1.0),
        _system("probe", "baseline", golds, 0.6, price_factor=1.05),
    ]
    comparison = build_comparison(systems, n_resamples=300, seed=0)
    board = comparison["leaderboard"]
    assert [(r["rank"], r["name"], r["role"]) for r in board] == [
        (None, "oracle", "ceiling"),
        (1, "run", "model"),
        (2, "probe", "baseline"),
        (3, "majority", "baseline"),
    ]
    acc = _cells(comparison, "category_accuracy")
    assert [acc[n]["best"] for n in ("oracle", "run", "probe", "majority")] == [False, True, False, False]
    mape = _cells(comparison, "price_mape")  # run and oracle are exact; the oracle is not a competitor
    assert mape["run"]["best"] and not mape["oracle"]["best"] and mape["run"]["value"] == 0
    assert comparison["reference"] == "run" and board[1]["reference"]
    assert acc["run"]["verdict"] is None  # the reference has no verdict against itself
    assert acc["majority"]["verdict"] == "worse" and acc["oracle"]["verdict"] == "better"
    # comparisons follow the leaderboard, the reference left out
    assert [c["system"] for c in comparison["comparisons"]] == ["oracle", "probe", "majority"]
    assert acc["run"]["value"] == pytest.approx(0.8) and acc["run"]["ci95"][0] < 0.8 < acc["run"]["ci95"][1]
    json.dumps(comparison, allow_nan=False)  # plain, strict JSON


def test_reference_can_be_chosen():
    """--reference probe: every other system is tested against probe."""
    golds = _golds(80)
    systems = [_system("run", "model", golds, 0.8), _system("probe", "baseline", golds, 0.6)]
    comparison = build_comparison(systems, reference="probe", n_resamples=200)
    assert comparison["reference"] == "probe"
    (only,) = comparison["comparisons"]
    assert only["system"] == "run" and only["reference"] == "probe"
    row = next(m for m in only["metrics"] if m["metric"] == "category_accuracy")
    assert row["difference"] == pytest.approx(0.2) and row["test"] == "McNemar exact"
    # 16 rows only run got right, none only probe: McNemar's exact p from statsmodels
    expected = mcnemar([[48, 16], [0, 16]], exact=True).pvalue
    assert only["mcnemar"] == {"only_system": 16, "only_reference": 0, "p_value": pytest.approx(expected)}


def test_ties_broken_by_the_next_headline_metric_and_rank_by():
    """Equal accuracy and titles: the better price ranks first; --rank-by a lower-is-better metric too."""
    golds = _golds(60)
    a = _system("a", "model", golds, 0.5, price_factor=1.5)
    b = _system("b", "model", golds, 0.5, price_factor=1.1)
    # same category and title answers: the tie falls through to the price metrics
    comparison = build_comparison([a, b], n_resamples=100)
    assert [r["name"] for r in comparison["leaderboard"]] == ["b", "a"]
    by_mape = build_comparison([a, b], n_resamples=100, rank_by="price_mape")
    assert [r["name"] for r in by_mape["leaderboard"]] == ["b", "a"]
    assert by_mape["rank_by"] == "price_mape"


def test_every_metric_is_compared_with_holm_across_metrics():
    """One row per metric, each with raw and Holm-adjusted p; the adjusted p is never below the raw one."""
    golds = _golds(100)
    comparison = build_comparison([_system("a", "model", golds, 0.7), _system("b", "model", golds, 0.5)],
                                  n_resamples=200)  # fmt: skip
    (c,) = comparison["comparisons"]
    assert [m["metric"] for m in c["metrics"]] == [m.name for m in METRICS]
    for m in c["metrics"]:
        if m["p_value"] is not None:
            assert m["p_holm"] >= m["p_value"]
    assert set(c["summary"]) == {"better", "worse", "no significant difference", "not comparable"}
    assert "category_accuracy" in c["summary"]["worse"]
    assert len(c["per_category"]) == 4


def test_bad_arguments():
    golds = _golds(10)
    a, b = _system("a", "model", golds, 0.5), _system("a", "model", golds, 0.6)
    with pytest.raises(ValueError, match="unique"):
        build_comparison([a, b], n_resamples=100)
    with pytest.raises(ValueError, match="no system named"):
        build_comparison([a], reference="zzz", n_resamples=100)
    short = System("short", score_items([ParsedAnswer(None, None, None)], golds[:1]))
    with pytest.raises(ValueError, match="same rows"):
        build_comparison([a, short], n_resamples=100)


def test_roles():
    assert role_of("oracle", "baseline") == "ceiling"
    assert role_of("probe", "baseline") == "baseline"
    assert role_of("oracle", "model") == "model"  # a RUN dir that happens to be called oracle
    assert role_of("run", None) == "model"


def test_one_system_alone():
    """A single system: a leaderboard of one, nothing to compare, nothing marked best."""
    golds = _golds(20)
    comparison = build_comparison([_system("run", "model", golds, 0.5)], n_resamples=100)
    assert comparison["comparisons"] == []
    assert not any(c["best"] for c in comparison["leaderboard"][0]["metrics"].values())
    assert np.isfinite(comparison["leaderboard"][0]["metrics"]["category_accuracy"]["value"])


def test_too_few_resamples_are_told():
    """With 100 resamples Holm's correction over 17 bootstrap p-values (each at least 1/101) can never reach
    0.05: a note says so and how many resamples it takes; 1,000 are enough."""
    golds = _golds(40)
    systems = [_system("a", "model", golds, 0.7), _system("b", "model", golds, 0.5)]
    (note,) = build_comparison(systems, n_resamples=100)["notes"]
    assert "with 100 bootstrap resamples" in note and "at least 320 resamples" in note
    assert build_comparison(systems, n_resamples=1000)["notes"] == []
