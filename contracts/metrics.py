"""The task's metrics: per-item scores, their aggregation into metrics, and seeded bootstrap intervals.

They belong with the task (``contracts.task`` holds the answer and its parser), so that ``evaluate``'s report
and ``finetune``'s validation answers are scored by one implementation.

Scoring keeps lm-eval's separation: each item is scored on its own (``score_item``), items are gathered into
columns (``score_items``), and a ``MetricSpec`` aggregates columns into one number. Aggregations work on a
``(B, n)`` matrix of resampled items at once, so the point estimate (``B = 1``, the items as they are) and the
bootstrap distribution come from the same code.

A field the parser could not read counts as wrong for category and title. Price errors are computed over
parsed prices only, and the price parse rate is reported beside them: a model cannot look good by saying no
price.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from contracts.task import ParsedAnswer

GOLD_FIELDS = ("title", "category3_code", "full_price")
TITLE_GOOD = 90.0  # a token_sort_ratio at or above this counts as "the right title, give or take"


def normalize_category(value: object) -> str | None:
    """Category codes compare case-blind, spaces collapsed, end punctuation dropped (``N.A.`` ≈ ``n.a``)."""
    if not isinstance(value, str):
        return None
    norm = " ".join(value.split()).strip(" .,;:").upper()
    return norm or None


def normalize_title(value: object) -> str | None:
    """Titles compare case-blind with whitespace collapsed and end punctuation dropped (exact-match rate)."""
    if not isinstance(value, str):
        return None
    norm = " ".join(value.split()).strip(" .,;:").casefold()
    return norm or None


def score_item(parsed: ParsedAnswer, gold: Mapping[str, object]) -> dict[str, float | bool | None]:
    """Score one answer against its gold fields (``title``, ``category3_code``, ``full_price``).

    Returns the per-item scores for predictions.jsonl; price scores are ``None`` without a parsed price.
    """
    pred_cat = normalize_category(parsed.category3_code)
    gold_cat = normalize_category(gold["category3_code"])
    if parsed.title is None:
        ratio = 0.0
    else:
        ratio = float(fuzz.token_sort_ratio(parsed.title, str(gold["title"]), processor=default_process))
    scores: dict[str, float | bool | None] = {
        "category_correct": pred_cat is not None and pred_cat == gold_cat,
        "title_token_sort_ratio": round(ratio, 4),
        "title_exact": parsed.title is not None
        and normalize_title(parsed.title) == normalize_title(gold["title"]),
        "price_abs_error": None,
        "price_ape": None,
        "price_sle": None,
        "price_within_10pct": None,
        "price_within_25pct": None,
    }
    true = float(gold["full_price"])  # type: ignore[arg-type]
    pred = parsed.full_price
    if pred is not None and math.isfinite(pred) and pred >= 0:
        err = abs(pred - true)
        scores["price_abs_error"] = err
        scores["price_sle"] = (math.log1p(pred) - math.log1p(true)) ** 2
        if true > 0:
            ape = err / true
            scores["price_ape"] = ape
            # a small tolerance so that 10% off, written with cents, still counts as within 10%
            scores["price_within_10pct"] = ape <= 0.10 + 1e-9
            scores["price_within_25pct"] = ape <= 0.25 + 1e-9
    return scores


@dataclass
class ItemScores:
    """Per-item score columns (float arrays of length n, NaN where not applicable) and the category labels."""

    columns: dict[str, np.ndarray]
    gold_categories: list[str]
    pred_categories: list[str | None]
    labels: list[str] = field(default_factory=list)  # sorted gold label set: index = code in gold_code
    display: dict[str, str] = field(default_factory=dict)  # normalised label -> how the data spells it

    def show(self, label: str | None) -> str:
        """A label as the dataset spells it (``N.A.`` rather than its normalised ``N.A``)."""
        return UNPARSED if label is None else self.display.get(label, label)

    @property
    def n(self) -> int:
        return len(self.gold_categories)

    def subset(self, index: np.ndarray) -> ItemScores:
        """The items at ``index`` (label codes kept consistent with the full set)."""
        return ItemScores(
            columns={k: v[index] for k, v in self.columns.items()},
            gold_categories=[self.gold_categories[i] for i in index],
            pred_categories=[self.pred_categories[i] for i in index],
            labels=self.labels,
            display=self.display,
        )


def score_items(parsed: Sequence[ParsedAnswer], golds: Sequence[Mapping[str, object]]) -> ItemScores:
    """Score every item and gather the scores into columns."""
    if len(parsed) != len(golds):
        raise ValueError(f"{len(parsed)} answers for {len(golds)} gold rows")
    items = [score_item(p, g) for p, g in zip(parsed, golds, strict=True)]
    return items_to_columns(items, parsed, golds)


def items_to_columns(
    items: Sequence[Mapping[str, object]],
    parsed: Sequence[ParsedAnswer],
    golds: Sequence[Mapping[str, object]],
) -> ItemScores:
    """Gather per-item score dicts (from ``score_item``) into an ``ItemScores``."""

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if it[key] is None else float(it[key]) for it in items], dtype=float)

    gold_cats = [normalize_category(g["category3_code"]) or "" for g in golds]
    pred_cats = [normalize_category(p.category3_code) for p in parsed]
    labels = sorted(set(gold_cats))
    display: dict[str, str] = {}
    for g, norm in zip(golds, gold_cats, strict=True):
        display.setdefault(norm, " ".join(str(g["category3_code"]).split()))
    code = {label: i for i, label in enumerate(labels)}
    columns = {
        key: col(key)
        for key in (
            "category_correct",
            "title_token_sort_ratio",
            "title_exact",
            "price_abs_error",
            "price_ape",
            "price_sle",
            "price_within_10pct",
            "price_within_25pct",
        )
    }
    columns["title_parsed"] = np.array([p.title is not None for p in parsed], dtype=float)
    columns["category_parsed"] = np.array([p.category3_code is not None for p in parsed], dtype=float)
    columns["price_parsed"] = np.array([p.full_price is not None for p in parsed], dtype=float)
    columns["all_parsed"] = columns["title_parsed"] * columns["category_parsed"] * columns["price_parsed"]
    columns["gold_code"] = np.array([code[c] for c in gold_cats], dtype=float)
    columns["pred_code"] = np.array([code.get(c, -1) if c else -1 for c in pred_cats], dtype=float)
    return ItemScores(
        columns=columns, gold_categories=gold_cats, pred_categories=pred_cats, labels=labels, display=display
    )


# -- aggregations over a (B, n) matrix of resampled item scores ---------------------------------------------


@dataclass(frozen=True)
class ColumnAggregate:
    """How a metric aggregates its item column(s), stated as data so that other code can read the recipe.

    Calling it aggregates a ``(B, n)`` matrix of resampled items. ``evaluation.paired`` reads ``kind`` and
    ``column`` to compute the same aggregate from resampling weights (one matrix product instead of one
    gathered copy per column): ``mean`` and ``median`` skip NaN (not applicable) items, ``share_at_least``
    counts them as misses, ``root_mean`` is the square root of the NaN-skipping mean, ``macro_f1`` reads the
    ``gold_code`` and ``pred_code`` columns.
    """

    kind: str
    column: str = ""
    threshold: float = 0.0

    def __call__(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.kind == "mean":
            return np.nanmean(cols[self.column], axis=-1)
        if self.kind == "median":
            return np.nanmedian(cols[self.column], axis=-1)
        if self.kind == "share_at_least":
            return np.mean(cols[self.column] >= self.threshold, axis=-1)
        if self.kind == "root_mean":
            return np.sqrt(np.nanmean(cols[self.column], axis=-1))
        if self.kind == "macro_f1":
            return _macro_f1(cols)
        raise ValueError(f"unknown aggregate kind {self.kind!r}")


def _mean(key: str) -> ColumnAggregate:
    return ColumnAggregate("mean", key)


def _median(key: str) -> ColumnAggregate:
    return ColumnAggregate("median", key)


def _share_at_least(key: str, threshold: float) -> ColumnAggregate:
    return ColumnAggregate("share_at_least", key, threshold)


_rmsle = ColumnAggregate("root_mean", "price_sle")


def _macro_f1(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean over the gold categories present of F1_c = 2·TP_c / (|gold = c| + |pred = c|).

    Predictions outside the gold label set (or unreadable) count as misses of the true class only.
    """
    gold = cols["gold_code"].astype(np.int64)
    pred = cols["pred_code"].astype(np.int64)
    n_classes = int(max(gold.max(initial=-1), pred.max(initial=-1))) + 1
    if gold.size == 0 or n_classes == 0:
        return np.full(gold.shape[0], np.nan)
    b = gold.shape[0]
    offset = (np.arange(b) * n_classes)[:, None]
    size = b * n_classes
    gold_count = np.bincount((gold + offset).ravel(), minlength=size).reshape(b, n_classes)
    valid = pred >= 0
    pred_count = np.bincount((pred + offset)[valid], minlength=size).reshape(b, n_classes)
    hit = valid & (pred == gold)
    tp = np.bincount((gold + offset)[hit], minlength=size).reshape(b, n_classes)
    present = gold_count > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * tp / np.maximum(gold_count + pred_count, 1), 0.0)
    return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


_macro_f1_aggregate = ColumnAggregate("macro_f1")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: how to aggregate item columns, which way is better, and how to show it."""

    name: str
    label: str
    group: str
    higher_is_better: bool
    fmt: str  # a reports.html format: pct, usd, float1, float3, …
    aggregate: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    description: str = ""


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("category_accuracy", "Category accuracy", "category", True, "pct", _mean("category_correct"),
               "share of items whose category3_code matches (case and spaces normalised)"),
    MetricSpec("category_macro_f1", "Category macro-F1", "category", True, "float3", _macro_f1_aggregate,
               "mean F1 over the gold categories present"),
    MetricSpec("title_token_sort_ratio_mean", "Title similarity, mean", "title", True, "float1",
               _mean("title_token_sort_ratio"), "rapidfuzz token_sort_ratio (0-100), unreadable title = 0"),
    MetricSpec("title_token_sort_ratio_median", "Title similarity, median", "title", True, "float1",
               _median("title_token_sort_ratio"), "median token_sort_ratio"),
    MetricSpec("title_share_ge_90", "Titles with similarity ≥ 90", "title", True, "pct",
               _share_at_least("title_token_sort_ratio", TITLE_GOOD), "share with token_sort_ratio ≥ 90"),
    MetricSpec("title_exact_match", "Title exact match", "title", True, "pct", _mean("title_exact"),
               "case- and space-normalised exact match"),
    MetricSpec("price_mae_usd", "Price MAE (USD)", "price", False, "usd", _mean("price_abs_error"),
               "mean absolute error over parsed prices"),
    MetricSpec("price_median_ae_usd", "Price median abs. error (USD)", "price", False, "usd",
               _median("price_abs_error"), "median absolute error over parsed prices"),
    MetricSpec("price_mape", "Price MAPE", "price", False, "pct", _mean("price_ape"),
               "mean absolute percentage error over parsed prices"),
    MetricSpec("price_median_ape", "Price median APE", "price", False, "pct", _median("price_ape"),
               "median absolute percentage error over parsed prices"),
    MetricSpec("price_rmsle", "Price RMSLE", "price", False, "float3", _rmsle,
               "root mean squared log1p error over parsed prices"),
    MetricSpec("price_within_10pct", "Prices within ±10%", "price", True, "pct", _mean("price_within_10pct"),
               "share of parsed prices within 10% of the truth"),
    MetricSpec("price_within_25pct", "Prices within ±25%", "price", True, "pct", _mean("price_within_25pct"),
               "share of parsed prices within 25% of the truth"),
    MetricSpec("parse_rate", "Answers fully parsed", "parse", True, "pct", _mean("all_parsed"),
               "share of answers with all three fields readable"),
    MetricSpec("title_parse_rate", "Title parse rate", "parse", True, "pct", _mean("title_parsed")),
    MetricSpec("category_parse_rate", "Category parse rate", "parse", True, "pct", _mean("category_parsed")),
    MetricSpec("price_parse_rate", "Price parse rate", "parse", True, "pct", _mean("price_parsed")),
)  # fmt: skip
METRICS_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
GROUPS: dict[str, str] = {"category": "Category", "title": "Title", "price": "Price", "parse": "Parsing"}
HEADLINE: tuple[str, ...] = (
    "category_accuracy",
    "category_macro_f1",
    "title_token_sort_ratio_mean",
    "title_exact_match",
    "price_mape",
    "price_median_ape",
    "price_within_25pct",
    "price_parse_rate",
)
PER_CATEGORY: tuple[str, ...] = (
    "category_accuracy",
    "title_token_sort_ratio_mean",
    "title_exact_match",
    "price_mape",
    "price_median_ape",
    "price_within_25pct",
    "parse_rate",
)


def _to_float(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _evaluate(specs: Sequence[MetricSpec], columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN row: no parsed price
        return {spec.name: np.asarray(spec.aggregate(columns), dtype=float) for spec in specs}


def compute_metrics(
    scores: ItemScores,
    *,
    n_resamples: int = 1000,
    seed: int | Sequence[int] = 0,
    specs: Sequence[MetricSpec] = METRICS,
    confidence: float = 0.95,
) -> dict[str, dict]:
    """Every metric's value with a percentile bootstrap interval.

    Items are resampled with replacement ``n_resamples`` times with ``np.random.default_rng(seed)``, so the
    same seed gives the same intervals. A metric with no defined value (e.g. no price parsed) is ``None``.

    Returns:
        ``{name: {"value": float | None, "ci95": [lo, hi] | None, "higher_is_better": bool}}``.
    """
    n = scores.n
    point = _evaluate(specs, {k: v[None, :] for k, v in scores.columns.items()}) if n else {}
    dist: dict[str, np.ndarray] = {}
    if n and n_resamples > 0:
        rng = np.random.default_rng(seed)
        index = rng.integers(0, n, size=(n_resamples, n))
        dist = _evaluate(specs, {k: v[index] for k, v in scores.columns.items()})
    tail = 100 * (1 - confidence) / 2
    out: dict[str, dict] = {}
    for spec in specs:
        value = _to_float(point[spec.name][0]) if n else None
        ci = None
        if value is not None and spec.name in dist:
            finite = dist[spec.name][np.isfinite(dist[spec.name])]
            if finite.size:
                lo, hi = np.percentile(finite, [tail, 100 - tail])
                ci = [float(lo), float(hi)]
        out[spec.name] = {"value": value, "ci95": ci, "higher_is_better": spec.higher_is_better}
    return out


def per_category_metrics(
    scores: ItemScores,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    names: Sequence[str] = PER_CATEGORY,
) -> dict[str, dict]:
    """Metrics within each gold category, with bootstrap intervals, plus that class's precision and F1.

    Each category is resampled with its own generator ``default_rng([seed, k])`` (k = its index in the sorted
    label list), so adding a category does not shift the intervals of the others.

    Returns:
        ``{category: {"n": int, "metrics": {name: {...}}, "precision": float | None, "f1": float | None}}``.
    """
    specs = [METRICS_BY_NAME[name] for name in names]
    gold = np.array(scores.gold_categories, dtype=object)
    out: dict[str, dict] = {}
    for k, label in enumerate(scores.labels):
        index = np.flatnonzero(gold == label)
        sub = scores.subset(index)
        predicted_as = sum(1 for p in scores.pred_categories if p == label)
        tp = int(np.nansum(sub.columns["category_correct"]))
        out[scores.show(label)] = {
            "n": int(index.size),
            "metrics": compute_metrics(sub, n_resamples=n_resamples, seed=[seed, k], specs=specs),
            "precision": tp / predicted_as if predicted_as else None,
            "f1": 2 * tp / (index.size + predicted_as) if index.size + predicted_as else None,
        }
    return out


UNPARSED = "(unreadable)"


def confusion_matrix(scores: ItemScores) -> dict:
    """Counts of (gold, predicted) categories. Rows are the gold labels; columns are every label seen.

    Predicted labels outside the gold set get their own columns; unreadable answers go to ``(unreadable)``.

    Returns:
        ``{"labels": rows, "pred_labels": columns, "matrix": [[int]]}``.
    """
    rows = list(scores.labels)
    extra = sorted({p for p in scores.pred_categories if p is not None and p not in set(rows)})
    cols = rows + extra + ([UNPARSED] if any(p is None for p in scores.pred_categories) else [])
    col_index = {c: j for j, c in enumerate(cols)}
    row_index = {r: i for i, r in enumerate(rows)}
    matrix = [[0] * len(cols) for _ in rows]
    for g, p in zip(scores.gold_categories, scores.pred_categories, strict=True):
        matrix[row_index[g]][col_index[p if p is not None else UNPARSED]] += 1
    return {
        "labels": [scores.show(r) for r in rows],
        "pred_labels": [scores.show(c) if c != UNPARSED else UNPARSED for c in cols],
        "matrix": matrix,
    }


def top_confusions(confusion: Mapping, k: int = 10) -> list[dict]:
    """The ``k`` most frequent off-diagonal (gold, predicted) pairs."""
    pairs = []
    for i, gold in enumerate(confusion["labels"]):
        for j, pred in enumerate(confusion["pred_labels"]):
            count = confusion["matrix"][i][j]
            if count and gold != pred:
                pairs.append({"gold": gold, "pred": pred, "count": count})
    pairs.sort(key=lambda d: (-d["count"], d["gold"], d["pred"]))
    return pairs[:k]
