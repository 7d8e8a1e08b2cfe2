"""Metrics against hand-computed values (Setup / Run / Assert), and the bootstrap's reproducibility."""

from __future__ import annotations

import math

import pytest

from contracts.metrics import (
    METRICS,
    compute_metrics,
    confusion_matrix,
    normalize_category,
    per_category_metrics,
    score_item,
    score_items,
    top_confusions,
)
from contracts.task import ParsedAnswer

GOLDS = [
    {"title": "Check Cashmere Scarf", "category3_code": "SCARVES", "full_price": 100.0},
    {"title": "Mini Frances Bag", "category3_code": "SCARVES", "full_price": 200.0},
    {"title": "EKD Wool Cape", "category3_code": "CAPES", "full_price": 400.0},
    {"title": "Trench Coat", "category3_code": "COATS", "full_price": 1000.0},
]
PARSED = [
    ParsedAnswer("Check Cashmere Scarf", "scarves ", 110.0),  # all right; price 10% off
    ParsedAnswer("Frances Mini Bag", "CAPES", 150.0),  # same tokens, wrong category, 25% off
    ParsedAnswer(None, "CAPES", None),  # unreadable title and price
    ParsedAnswer("Coat", None, 2000.0),  # unreadable category, price double
]


def _values(metrics):
    return {name: m["value"] for name, m in metrics.items()}


def test_metrics_hand_computed():
    """Every metric on four items matches the value worked out by hand."""
    # Setup
    scores = score_items(PARSED, GOLDS)
    rmsle = math.sqrt(
        (
            (math.log1p(110) - math.log1p(100)) ** 2
            + (math.log1p(150) - math.log1p(200)) ** 2
            + (math.log1p(2000) - math.log1p(1000)) ** 2
        )
        / 3
    )
    coat = 100 * 2 * 4 / (4 + 11)  # token_sort_ratio("coat", "coat trench") = 2·matches / total length
    # Run
    values = _values(compute_metrics(scores, n_resamples=0))
    # Assert
    expected = {
        "category_accuracy": 0.5,
        "category_macro_f1": (2 / 3 + 0 + 2 / 3) / 3,  # CAPES 2·1/(1+2), COATS 0, SCARVES 2·1/(2+1)
        "title_token_sort_ratio_mean": (100 + 100 + 0 + coat) / 4,
        "title_token_sort_ratio_median": (coat + 100) / 2,
        "title_share_ge_90": 0.5,
        "title_exact_match": 0.25,
        "price_mae_usd": (10 + 50 + 1000) / 3,
        "price_median_ae_usd": 50.0,
        "price_mape": (0.1 + 0.25 + 1.0) / 3,
        "price_median_ape": 0.25,
        "price_rmsle": rmsle,
        "price_within_10pct": 1 / 3,
        "price_within_25pct": 2 / 3,
        "parse_rate": 0.5,
        "title_parse_rate": 0.75,
        "category_parse_rate": 0.75,
        "price_parse_rate": 0.75,
    }
    assert set(values) == set(expected) == {m.name for m in METRICS}
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, rel=1e-3), name


def test_no_parsed_price_gives_none_not_nan():
    """With no readable price, price metrics are None (JSON null) and the parse rate is 0."""
    # Setup
    scores = score_items([ParsedAnswer("x", "A", None)] * 3, [GOLDS[0]] * 3)
    # Run
    metrics = compute_metrics(scores, n_resamples=50)
    # Assert
    assert metrics["price_mae_usd"] == {"value": None, "ci95": None, "higher_is_better": False}
    assert metrics["price_parse_rate"]["value"] == 0.0


def test_bootstrap_is_seeded_and_contains_estimate():
    """The same seed gives the same intervals; each interval contains its point estimate."""
    # Setup
    scores = score_items(PARSED * 10, GOLDS * 10)
    # Run
    first = compute_metrics(scores, n_resamples=300, seed=7)
    second = compute_metrics(scores, n_resamples=300, seed=7)
    other = compute_metrics(scores, n_resamples=300, seed=8)
    # Assert
    assert first == second
    assert first != other
    for name, metric in first.items():
        lo, hi = metric["ci95"]
        assert lo <= metric["value"] + 1e-9 and metric["value"] <= hi + 1e-9, name


def test_per_category_hand_computed():
    """Within SCARVES (2 items): accuracy 1/2, precision 1/1, F1 2·1/(2+1)."""
    # Setup
    scores = score_items(PARSED, GOLDS)
    # Run
    per_cat = per_category_metrics(scores, n_resamples=20)
    # Assert
    assert list(per_cat) == ["CAPES", "COATS", "SCARVES"]
    scarves = per_cat["SCARVES"]
    assert scarves["n"] == 2
    assert scarves["metrics"]["category_accuracy"]["value"] == 0.5
    assert scarves["precision"] == 1.0
    assert scarves["f1"] == pytest.approx(2 / 3)
    assert per_cat["COATS"]["precision"] is None


def test_confusion_matrix():
    """Rows are gold labels; unreadable predictions get their own column."""
    # Run
    confusion = confusion_matrix(score_items(PARSED, GOLDS))
    # Assert
    assert confusion["labels"] == ["CAPES", "COATS", "SCARVES"]
    assert confusion["pred_labels"] == ["CAPES", "COATS", "SCARVES", "(unreadable)"]
    assert confusion["matrix"] == [[1, 0, 0, 0], [0, 0, 0, 1], [1, 0, 1, 0]]
    assert top_confusions(confusion)[0] == {"gold": "COATS", "pred": "(unreadable)", "count": 1}


def test_score_item_fields():
    """Per-item scores: normalised category match, exact title, price errors over a parsed price only."""
    scores = score_item(ParsedAnswer("check cashmere  scarf.", " Scarves", 90.0), GOLDS[0])
    assert scores["category_correct"] is True
    assert scores["title_exact"] is True
    assert scores["price_ape"] == pytest.approx(0.1)
    assert scores["price_within_10pct"] is True
    unparsed = score_item(ParsedAnswer(), GOLDS[0])
    assert unparsed["category_correct"] is False
    assert unparsed["title_token_sort_ratio"] == 0.0
    assert unparsed["price_abs_error"] is None


@pytest.mark.parametrize(("raw", "norm"), [("N.A.", "N.A"), (" trench  coats ", "TRENCH COATS"), ("", None)])
def test_normalize_category(raw, norm):
    """Case, inner spaces and end punctuation do not matter for category accuracy."""
    assert normalize_category(raw) == norm


def test_labels_keep_the_dataset_spelling():
    """Categories compare normalised, but tables show them as the data spells them ('N.A.', not 'N.A')."""
    golds = [{"title": "x", "category3_code": "N.A.", "full_price": 1.0}] * 2
    scores = score_items([ParsedAnswer("x", "n.a", 1.0), ParsedAnswer("x", "Bags", 1.0)], golds)
    assert confusion_matrix(scores)["labels"] == ["N.A."]
    assert confusion_matrix(scores)["pred_labels"] == ["N.A.", "BAGS"]
    assert list(per_category_metrics(scores, n_resamples=0)) == ["N.A."]
