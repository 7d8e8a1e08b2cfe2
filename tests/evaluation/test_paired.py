"""Paired statistics: the fast resampled metrics equal the metrics' own aggregation, and the tests and
corrections agree with scipy and statsmodels on crafted predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from contracts.metrics import METRICS, METRICS_BY_NAME, compute_metrics, per_category_metrics, score_items
from contracts.task import ParsedAnswer
from evaluation import paired

CATS = ["TRENCH COATS", "N.A.", "SCARVES", "SNEAKERS", "TOTES"]


def _golds(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"title": f"Check Wool Scarf {i % 7}", "category3_code": CATS[i % len(CATS)],
             "full_price": float(rng.integers(50, 3000))} for i in range(n)]  # fmt: skip


def _noisy(golds: list[dict], seed: int, title_right: float = 0.5) -> list[ParsedAnswer]:
    """Answers with wrong categories, other titles, price errors, and unreadable fields (NaN scores)."""
    rng = np.random.default_rng(seed)
    out = []
    for g in golds:
        other = "Cotton Belted Cape" if rng.random() < 0.8 else None
        title = g["title"] if rng.random() < title_right else other
        cat = (
            g["category3_code"]
            if rng.random() < 0.6
            else (CATS[rng.integers(5)] if rng.random() < 0.8 else None)
        )
        price = g["full_price"] * rng.lognormal(0, 0.4) if rng.random() < 0.85 else None
        out.append(ParsedAnswer(title=title, category3_code=cat, full_price=price))
    return out


def _answers(golds: list[dict], correct: np.ndarray) -> list[ParsedAnswer]:
    """Answers right in everything where ``correct``, wrong in everything elsewhere."""
    return [
        ParsedAnswer(g["title"], g["category3_code"], g["full_price"]) if ok
        else ParsedAnswer("Other Thing", "WRONG", g["full_price"] * 3)
        for g, ok in zip(golds, correct, strict=True)
    ]  # fmt: skip


def _difference(dists: list, name: str) -> dict:
    """The second system's paired difference to the first on metric ``name``."""
    return paired.paired_difference(
        dists[1].point[name], dists[0].point[name], dists[1].resampled[name], dists[0].resampled[name]
    )


def test_resampled_metrics_equal_each_metrics_own_aggregate():
    """Counts-based aggregation gives what spec.aggregate gives on the gathered resample, for every metric
    (NaN items, unreadable fields, medians of odd and even counts included)."""
    # Setup
    golds = _golds(57)
    scores = score_items(_noisy(golds, 1), golds)
    rng = np.random.default_rng(3)
    index = rng.integers(0, scores.n, size=(40, scores.n))
    counts = np.stack([np.bincount(row, minlength=scores.n) for row in index]).astype(float)
    gathered = {k: v[index] for k, v in scores.columns.items()}
    # Run
    fast = paired.resampled_metrics(METRICS, scores.columns, counts)
    # Assert
    for spec in METRICS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a resample with no parsed price
            expected = np.asarray(spec.aggregate(gathered), dtype=float)
        np.testing.assert_allclose(fast[spec.name], expected, rtol=1e-12, atol=1e-12, err_msg=spec.name)


def test_medians_of_items_never_valid_are_nan():
    """A resample with no parsed price has no median price error (NaN), as nanmedian says."""
    x = np.array([np.nan, np.nan, 3.0])
    counts = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
    assert np.isnan(paired._weighted_median(x, counts)[0])
    assert paired._weighted_median(x, counts)[1:].tolist() == [3.0, 3.0]


def test_intervals_equal_those_of_metrics_json():
    """Each system's point value and interval are those compute_metrics writes into metrics.json (same
    resamples, same seed), overall and per category."""
    golds = _golds(120)
    systems = [score_items(_noisy(golds, s), golds) for s in (1, 2)]
    dists = paired.distributions(systems, METRICS, n_resamples=300, seed=5)
    for scores, dist in zip(systems, dists, strict=True):
        expected = compute_metrics(scores, n_resamples=300, seed=5)
        for spec in METRICS:
            assert dist.point[spec.name] == expected[spec.name]["value"], spec.name
            ci = paired.percentile_interval(dist.resampled[spec.name])
            assert ci == pytest.approx(expected[spec.name]["ci95"], rel=1e-9, abs=1e-12), spec.name
    # per category: the reference's accuracy interval within each category uses the same draws
    rows = paired.category_differences(systems[1], systems[0], n_resamples=300, seed=5)
    per_cat = per_category_metrics(systems[0], n_resamples=300, seed=5)
    for row in rows:
        assert row["reference_value"] == pytest.approx(
            per_cat[row["category"]]["metrics"]["category_accuracy"]["value"]
        )
        assert row["n"] == per_cat[row["category"]]["n"]


@pytest.mark.parametrize(
    ("only_a", "only_b", "both", "neither"),
    [(12, 3, 50, 35), (7, 7, 20, 6), (0, 0, 30, 2), (25, 0, 0, 0), (1, 9, 400, 100)],
)
def test_mcnemar_equals_statsmodels_exact(only_a, only_b, both, neither):
    """McNemar's exact p from the discordant rows equals statsmodels' mcnemar(exact=True)."""
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, dtype=bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, dtype=bool)
    table = [[both, only_a], [only_b, neither]]
    result = paired.mcnemar_exact(a, b)
    assert (result["only_system"], result["only_reference"]) == (only_a, only_b)
    assert result["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)


def test_holm_equals_statsmodels():
    """Holm's adjustment equals statsmodels' multipletests(method='holm'); None entries are not tests."""
    rng = np.random.default_rng(0)
    p = list(rng.uniform(0, 0.2, size=15)) + [0.01, 0.01, 1.0]
    expected = multipletests(p, method="holm")[1]
    assert paired.holm(p) == pytest.approx(list(expected), rel=1e-12)
    with_none = [None, *p[:5], None]
    adjusted = paired.holm(with_none)
    assert adjusted[0] is None and adjusted[-1] is None
    assert adjusted[1:-1] == pytest.approx(list(multipletests(p[:5], method="holm")[1]), rel=1e-12)


def test_identical_systems_show_no_difference():
    """The same answers twice: every difference 0 with interval [0, 0], p = 1, no significant difference."""
    golds = _golds(90)
    a = score_items(_noisy(golds, 4), golds)
    b = score_items(_noisy(golds, 4), golds)
    dists = paired.distributions([a, b], METRICS, n_resamples=200, seed=0)
    for spec in METRICS:
        d = _difference(dists, spec.name)
        assert d["difference"] == 0 and d["ci95"] == [0.0, 0.0] and d["p_value"] == 1.0, spec.name
        assert (
            paired.verdict(d["difference"], d["p_value"], spec.higher_is_better, 0.05) == paired.NO_DIFFERENCE
        )
    assert (
        paired.mcnemar_exact(a.columns["category_correct"] == 1, b.columns["category_correct"] == 1)[
            "p_value"
        ]
        == 1
    )


def test_one_changed_row():
    """A copy with one row turned wrong: accuracy difference exactly −1/n, one discordant row (McNemar p = 1),
    an interval that holds the difference and no significant difference."""
    n = 200
    golds = _golds(n)
    correct = np.random.default_rng(1).random(n) < 0.7
    changed = correct.copy()
    first_right = int(np.flatnonzero(correct)[0])
    changed[first_right] = False
    ref, sys_ = score_items(_answers(golds, correct), golds), score_items(_answers(golds, changed), golds)
    accuracy = [METRICS_BY_NAME["category_accuracy"]]
    dists = paired.distributions([ref, sys_], accuracy, n_resamples=500, seed=0)
    d = _difference(dists, "category_accuracy")
    assert d["difference"] == pytest.approx(-1 / n)
    assert d["ci95"][0] <= -1 / n <= d["ci95"][1] <= 0
    test = paired.mcnemar_exact(sys_.columns["category_correct"] == 1, ref.columns["category_correct"] == 1)
    assert (test["only_system"], test["only_reference"], test["p_value"]) == (0, 1, 1.0)


def test_bootstrap_interval_and_p_against_scipy():
    """Known discordant rows (30 only the system right, 15 only the reference, 400 rows): the paired bootstrap
    interval of the accuracy difference matches scipy.stats.bootstrap (paired, percentile) and its p-value the
    paired t-test, within Monte Carlo error; McNemar's p equals scipy's binomial test."""
    n, only_sys, only_ref, both = 400, 30, 15, 250
    sys_ok = np.array(
        [1] * only_sys + [0] * only_ref + [1] * both + [0] * (n - only_sys - only_ref - both), bool
    )
    ref_ok = np.array(
        [0] * only_sys + [1] * only_ref + [1] * both + [0] * (n - only_sys - only_ref - both), bool
    )
    golds = _golds(n)
    ref, sys_ = score_items(_answers(golds, ref_ok), golds), score_items(_answers(golds, sys_ok), golds)
    b = 4000
    accuracy = [METRICS_BY_NAME["category_accuracy"]]
    dists = paired.distributions([ref, sys_], accuracy, n_resamples=b, seed=0)
    d = _difference(dists, "category_accuracy")
    diff = sys_ok.astype(float) - ref_ok.astype(float)
    theirs = stats.bootstrap((diff,), np.mean, n_resamples=b, method="percentile", random_state=1)
    assert d["difference"] == pytest.approx(15 / 400)
    assert d["ci95"][0] == pytest.approx(theirs.confidence_interval.low, abs=0.006)
    assert d["ci95"][1] == pytest.approx(theirs.confidence_interval.high, abs=0.006)
    t_p = stats.ttest_rel(sys_ok.astype(float), ref_ok.astype(float)).pvalue
    assert d["p_value"] == pytest.approx(t_p, abs=0.01)
    exact = paired.mcnemar_exact(sys_ok, ref_ok)["p_value"]
    assert exact == pytest.approx(stats.binomtest(only_sys, only_sys + only_ref, 0.5).pvalue, rel=1e-12)


def test_p_value_of_a_continuous_metric_against_the_paired_t_test():
    """Title similarity, mean: the bootstrap p-value is near the paired t-test's."""
    golds = _golds(300)
    a = score_items(_noisy(golds, 10), golds)
    b = score_items(_noisy(golds, 11, title_right=0.6), golds)
    spec = METRICS_BY_NAME["title_token_sort_ratio_mean"]
    dists = paired.distributions([a, b], [spec], n_resamples=4000, seed=2)
    d = _difference(dists, spec.name)
    t_p = stats.ttest_rel(b.columns["title_token_sort_ratio"], a.columns["title_token_sort_ratio"]).pvalue
    assert 0.001 < t_p < 0.2  # a difference the test can see but not beyond doubt
    assert d["p_value"] == pytest.approx(t_p, abs=0.02)


def test_verdicts_follow_the_metric_direction():
    """A lower error is better; a higher error is worse; a non-significant difference is neither."""
    assert paired.verdict(-0.1, 0.01, False, 0.05) == paired.BETTER
    assert paired.verdict(0.1, 0.01, False, 0.05) == paired.WORSE
    assert paired.verdict(0.1, 0.01, True, 0.05) == paired.BETTER
    assert paired.verdict(0.1, 0.2, True, 0.05) == paired.NO_DIFFERENCE
    assert paired.verdict(None, None, True, 0.05) == paired.NOT_COMPARABLE


def test_per_category_tests_equal_statsmodels_and_holm():
    """Per category, McNemar's p is statsmodels' on that category's rows; Holm runs across categories."""
    golds = _golds(150)
    a = score_items(_noisy(golds, 20), golds)
    b = score_items(_noisy(golds, 21), golds)
    rows = paired.category_differences(b, a, n_resamples=200, seed=0)
    assert [r["category"] for r in rows] == sorted(CATS, key=lambda c: c.upper().strip(". "))  # label order
    gold = np.array(a.gold_categories, dtype=object)
    p_values = []
    for row, label in zip(rows, a.labels, strict=True):
        idx = gold == label
        ok_b, ok_a = b.columns["category_correct"][idx] == 1, a.columns["category_correct"][idx] == 1
        table = [
            [int(np.sum(ok_b & ok_a)), int(np.sum(ok_b & ~ok_a))],
            [int(np.sum(~ok_b & ok_a)), int(np.sum(~ok_b & ~ok_a))],
        ]
        assert row["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
        assert row["difference"] == pytest.approx(ok_b.mean() - ok_a.mean())
        p_values.append(row["p_value"])
    assert [r["p_holm"] for r in rows] == pytest.approx(list(multipletests(p_values, method="holm")[1]))
    assert (
        rows[[r["category"] for r in rows].index("N.A.")]["n"] == 30
    )  # the label kept as the data spells it


def test_same_seed_same_figures():
    """The resamples come from the seed alone: two runs give identical distributions."""
    golds = _golds(80)
    systems = [score_items(_noisy(golds, s), golds) for s in (1, 2, 3)]
    one = paired.distributions(systems, METRICS, n_resamples=150, seed=9)
    two = paired.distributions(systems, METRICS, n_resamples=150, seed=9)
    for x, y in zip(one, two, strict=True):
        for name in x.resampled:
            np.testing.assert_array_equal(x.resampled[name], y.resampled[name])


def test_resample_chunks_are_the_whole_draw(monkeypatch):
    """Chunking the resamples (memory) draws exactly the matrix compute_metrics draws at once."""
    monkeypatch.setattr(paired, "CHUNK_ELEMENTS", 70)
    chunks = list(paired.resample_counts(23, 17, 4))
    assert len(chunks) > 1
    index = np.random.default_rng(4).integers(0, 23, size=(17, 23))
    expected = np.stack([np.bincount(row, minlength=23) for row in index])
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
