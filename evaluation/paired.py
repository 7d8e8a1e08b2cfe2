"""Paired statistics of systems that answered the same rows: pure functions on per-item scores.

Because every system answers the same rows, a comparison pairs them row by row, which is far sharper than
asking whether two separate intervals overlap. The methods, as ``comparison.json`` and the compare page
state them:

- **Paired bootstrap.** The rows are resampled with replacement ``B`` times (default 1,000) from
  ``np.random.default_rng(seed)``, the same draws ``metrics.compute_metrics`` makes, so each system's
  interval here equals the one in its metrics.json. Every system is scored on the same resample, and the
  difference of the aggregated metric (system − reference) is taken resample by resample: medians, macro-F1
  and RMSLE pair as well as means do. The 95% interval of a difference is its 2.5th and 97.5th percentile.
- **p-value of a difference.** The two-sided paired bootstrap test, which shifts the bootstrap
  differences δ*_b to the null by subtracting the observed δ̂ (Efron & Tibshirani 1993, ch. 16; the form
  Berg-Kirkpatrick et al. 2012 use for NLP metrics): p = (1 + #{b : |δ*_b − δ̂| ≥ |δ̂|}) / (1 + B).
  Identical systems give δ̂ = 0 and p = 1; the smallest possible p is 1 / (1 + B).
- **Category accuracy.** McNemar's exact test (scipy's two-sided binomial test with p = ½ on the discordant
  rows, the ones exactly one of the two systems got right) replaces the bootstrap p; per category too.
- **Correction.** Holm's step-down adjustment across the metrics of one comparison, and separately across
  the categories of one comparison. A difference is a verdict ("better" / "worse", by the metric's direction)
  when its adjusted p is below α (0.05), else "no significant difference".

Speed: a resample is a vector of row counts, so a mean over a resample is a matrix product of the counts
with the item column; medians come from cumulative counts over the sorted items. All systems share one count
matrix, processed in chunks of resamples to bound memory.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from contracts.metrics import ColumnAggregate, ItemScores, MetricSpec

BETTER = "better"
WORSE = "worse"
NO_DIFFERENCE = "no significant difference"
NOT_COMPARABLE = "not comparable"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, NOT_COMPARABLE)
ALPHA = 0.05
CHUNK_ELEMENTS = 4_000_000  # resamples × rows held at once (32 MB of float64 counts)

METHOD = {
    "interval": "paired bootstrap percentile interval of the difference (system − reference): rows "
    "resampled with replacement, the same resample applied to both systems",
    "p_value": "two-sided paired bootstrap test: p = (1 + #{|d*_b − d| ≥ |d|}) / (1 + B), the bootstrap "
    "differences d*_b centred on the observed difference d",
    "category_accuracy": "McNemar's exact test: two-sided binomial test (p = 1/2) on the rows exactly one "
    "of the two systems classified right (scipy.stats.binomtest)",
    "correction": "Holm's step-down adjustment across the metrics of each comparison, and across the "
    "categories of each comparison",
    "verdict": "better or worse (by the metric's direction) when the Holm-adjusted p is below alpha, else "
    "no significant difference",
}


@dataclass
class Distribution:
    """One system's metrics: the value on all rows and the values on each bootstrap resample."""

    point: dict[str, float | None]
    resampled: dict[str, np.ndarray]  # metric -> (B,) values, NaN where undefined on that resample


# -- resampling ---------------------------------------------------------------------------------------------


def resample_counts(n: int, n_resamples: int, seed: int | Sequence[int]) -> Iterator[np.ndarray]:
    """How often each row is drawn, per resample: ``(b, n)`` float chunks of ``B`` resamples in all.

    The draws are those of ``metrics.compute_metrics`` (``default_rng(seed).integers(0, n, (B, n))``): a
    numpy generator yields the same values whether the matrix is drawn whole or in row chunks.
    """
    if n == 0 or n_resamples <= 0:
        return
    rng = np.random.default_rng(seed)
    step = max(1, CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, step):
        b = min(step, n_resamples - start)
        index = rng.integers(0, n, size=(b, n))
        offset = (np.arange(b) * n)[:, None]
        yield np.bincount((index + offset).ravel(), minlength=b * n).reshape(b, n).astype(float)


def resampled_metrics(
    specs: Sequence[MetricSpec], columns: Mapping[str, np.ndarray], counts: np.ndarray
) -> dict[str, np.ndarray]:
    """Each metric on each resample given as row ``counts`` ``(b, n)``: what ``spec.aggregate`` gives on the
    resampled items, computed without gathering them (see ``metrics.ColumnAggregate``).

    Every mean-like metric comes from one matrix product of the counts with the item columns it needs.
    """
    stacked: dict[tuple[str, str, float], np.ndarray] = {}  # (what, column, threshold) -> item vector
    for spec in specs:
        agg = spec.aggregate
        if isinstance(agg, ColumnAggregate) and agg.kind in ("mean", "root_mean"):
            x = columns[agg.column]
            stacked[("sum", agg.column, 0.0)] = np.where(np.isfinite(x), x, 0.0)
            stacked[("valid", agg.column, 0.0)] = np.isfinite(x).astype(float)
        elif isinstance(agg, ColumnAggregate) and agg.kind == "share_at_least":
            hit = columns[agg.column] >= agg.threshold
            stacked[("share", agg.column, agg.threshold)] = hit.astype(float)
    keys = list(stacked)
    products = counts @ np.stack([stacked[k] for k in keys], axis=1) if keys else None
    at = {k: i for i, k in enumerate(keys)}
    totals = counts.sum(axis=1)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        agg = spec.aggregate
        if not isinstance(agg, ColumnAggregate):
            out[spec.name] = _gathered(spec, columns, counts)
        elif agg.kind == "macro_f1":
            out[spec.name] = _weighted_macro_f1(columns["gold_code"], columns["pred_code"], counts)
        elif agg.kind == "median":
            out[spec.name] = _weighted_median(columns[agg.column], counts)
        elif agg.kind == "share_at_least":
            out[spec.name] = products[:, at[("share", agg.column, agg.threshold)]] / totals
        elif agg.kind in ("mean", "root_mean"):
            mean = products[:, at[("sum", agg.column, 0.0)]] / products[:, at[("valid", agg.column, 0.0)]]
            out[spec.name] = mean if agg.kind == "mean" else np.sqrt(mean)
        else:
            raise ValueError(f"unknown aggregate kind {agg.kind!r}")
    return out


def _gathered(spec: MetricSpec, columns: Mapping[str, np.ndarray], counts: np.ndarray) -> np.ndarray:
    """A metric without a stated recipe: gather each resample's items and call its aggregate."""
    n = counts.shape[1]
    index = np.stack([np.repeat(np.arange(n), row.astype(np.int64)) for row in counts])
    return np.asarray(spec.aggregate({k: v[index] for k, v in columns.items()}), dtype=float)


def _weighted_median(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The median of each resample's valid items: the middle of the cumulative counts over sorted items."""
    valid = np.isfinite(x)
    order = np.argsort(np.where(valid, x, np.inf), kind="stable")[: int(valid.sum())]
    if order.size == 0:
        return np.full(counts.shape[0], np.nan)
    values = x[order]
    cum = np.take(counts, order, axis=1)
    np.cumsum(cum, axis=1, out=cum)
    k = cum[:, -1]
    # the two middle items (ranks from 0; the same item when k is odd): the first whose cumulative count
    # exceeds the rank
    low = (cum > np.floor((k - 1) / 2)[:, None]).argmax(axis=1)
    high = (cum > np.floor(k / 2)[:, None]).argmax(axis=1)
    return np.where(k > 0, (values[low] + values[high]) / 2, np.nan)


def _weighted_macro_f1(gold_code: np.ndarray, pred_code: np.ndarray, counts: np.ndarray) -> np.ndarray:
    gold = gold_code.astype(np.int64)
    pred = pred_code.astype(np.int64)
    n = gold.size
    c = int(max(gold.max(initial=-1), pred.max(initial=-1))) + 1
    if n == 0 or c == 0:
        return np.full(counts.shape[0], np.nan)
    rows = np.arange(n)
    valid = pred >= 0
    hot = np.zeros((n, 3 * c))  # gold one-hot | predicted one-hot | hits one-hot
    hot[rows, gold] = 1.0
    hot[rows[valid], c + pred[valid]] = 1.0
    hit = valid & (pred == gold)
    hot[rows[hit], 2 * c + gold[hit]] = 1.0
    found = counts @ hot
    gold_count, pred_count, tp = found[:, :c], found[:, c : 2 * c], found[:, 2 * c :]
    present = gold_count > 0
    f1 = np.where(present, 2 * tp / np.maximum(gold_count + pred_count, 1), 0.0)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def distributions(
    systems: Sequence[ItemScores], specs: Sequence[MetricSpec], *, n_resamples: int, seed: int
) -> list[Distribution]:
    """Every system's metrics on all rows and on the shared bootstrap resamples.

    Raises:
        ValueError: the systems did not answer the same number of rows.
    """
    sizes = {s.n for s in systems}
    if len(sizes) > 1:
        raise ValueError(f"paired statistics need the same rows for every system, got sizes {sorted(sizes)}")
    n = systems[0].n if systems else 0
    parts: list[dict[str, list[np.ndarray]]] = [{spec.name: [] for spec in specs} for _ in systems]
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of no parsed price: NaN, as intended
        points = [_point_values(scores, specs) for scores in systems]
        for counts in resample_counts(n, n_resamples, seed):
            for scores, found in zip(systems, parts, strict=True):
                for name, values in resampled_metrics(specs, scores.columns, counts).items():
                    found[name].append(values)
    return [
        Distribution(point, {k: np.concatenate(v) if v else np.empty(0) for k, v in found.items()})
        for point, found in zip(points, parts, strict=True)
    ]


def _point_values(scores: ItemScores, specs: Sequence[MetricSpec]) -> dict[str, float | None]:
    """Each metric on all rows, computed as ``metrics.compute_metrics`` computes it (same floats)."""
    out: dict[str, float | None] = {}
    for spec in specs:
        value = float(np.asarray(spec.aggregate({k: v[None, :] for k, v in scores.columns.items()}))[0])
        out[spec.name] = value if scores.n and math.isfinite(value) else None
    return out


# -- intervals, differences, tests --------------------------------------------------------------------------


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> list[float] | None:
    """The percentile interval of the finite ``values`` (as ``metrics.compute_metrics`` takes it)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [float(lo), float(hi)]


def paired_difference(
    value: float | None,
    reference: float | None,
    resampled: np.ndarray,
    reference_resampled: np.ndarray,
    confidence: float = 0.95,
) -> dict:
    """The difference ``value − reference``, its paired bootstrap interval and two-sided p-value.

    ``resampled`` and ``reference_resampled`` are the two systems' values on the same resamples.

    Returns:
        ``{"difference", "ci95", "p_value"}``; all ``None`` when either value is undefined.
    """
    if value is None or reference is None:
        return {"difference": None, "ci95": None, "p_value": None}
    observed = value - reference
    diffs = resampled - reference_resampled
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size == 0:
        return {"difference": observed, "ci95": None, "p_value": None}
    # ties count as extreme (conservative), with a tolerance for rounding in the aggregation
    tol = 1e-12 * max(1.0, abs(observed))
    extreme = int(np.count_nonzero(np.abs(diffs - observed) >= abs(observed) - tol))
    return {
        "difference": observed,
        "ci95": percentile_interval(diffs, confidence),
        "p_value": (1 + extreme) / (1 + diffs.size),
    }


def mcnemar_exact(correct: np.ndarray, reference_correct: np.ndarray) -> dict:
    """McNemar's exact test of paired right/wrong outcomes (booleans or 0/1 per row).

    Returns:
        ``{"only_system": b, "only_reference": c, "p_value"}``: b rows only the system got right, c rows
        only the reference; p is the two-sided binomial test of b in b + c at ½ (1 when b + c = 0).
    """
    from scipy.stats import binomtest

    a = np.asarray(correct, dtype=bool)
    r = np.asarray(reference_correct, dtype=bool)
    b = int(np.count_nonzero(a & ~r))
    c = int(np.count_nonzero(~a & r))
    p = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)
    return {"only_system": b, "only_reference": c, "p_value": min(1.0, p)}


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (``None`` entries stay ``None`` and do not count as tests)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def verdict(difference: float | None, p_adjusted: float | None, higher_is_better: bool, alpha: float) -> str:
    """``better`` / ``worse`` (by the metric's direction) when ``p_adjusted < alpha``, else no difference."""
    if difference is None or p_adjusted is None:
        return NOT_COMPARABLE
    if p_adjusted >= alpha or difference == 0:
        return NO_DIFFERENCE
    return BETTER if (difference > 0) == higher_is_better else WORSE


def category_differences(
    system: ItemScores,
    reference: ItemScores,
    *,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
    alpha: float = ALPHA,
) -> list[dict]:
    """Category accuracy (recall within each gold category) of ``system`` against ``reference``.

    Each category gets the difference with a paired bootstrap interval (category k resampled from
    ``default_rng([seed, k])``, as ``metrics.per_category_metrics`` does), McNemar's exact p, Holm's
    adjustment across the categories and a verdict. Categories in ``reference.labels`` order.
    """
    gold = np.array(reference.gold_categories, dtype=object)
    sys_ok = np.nan_to_num(system.columns["category_correct"]).astype(bool)
    ref_ok = np.nan_to_num(reference.columns["category_correct"]).astype(bool)
    rows = []
    for k, label in enumerate(reference.labels):
        index = np.flatnonzero(gold == label)
        a, r = sys_ok[index], ref_ok[index]
        d = a.astype(float) - r.astype(float)
        parts = [counts @ d / index.size for counts in resample_counts(index.size, n_resamples, [seed, k])]
        resampled = np.concatenate(parts) if parts else np.empty(0)
        test = mcnemar_exact(a, r)
        observed = float(a.mean() - r.mean())
        rows.append({
            "category": reference.show(label),
            "n": int(index.size),
            "value": float(a.mean()),
            "reference_value": float(r.mean()),
            "difference": observed,
            "ci95": percentile_interval(resampled, confidence) if resampled.size else None,
            "only_system": test["only_system"],
            "only_reference": test["only_reference"],
            "p_value": test["p_value"],
        })  # fmt: skip
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adjusted
        row["verdict"] = verdict(row["difference"], adjusted, True, alpha)
    return rows
