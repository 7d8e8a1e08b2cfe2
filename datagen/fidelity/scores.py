"""The scores of a comparison, each a pure function of the two tables: SDMetrics quality (column shapes and
pair trends, texts scored by their length), KS and TV complements, shared histograms, title vocabulary."""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter

import numpy as np
import pandas as pd

from contracts.dataset.schema import COLUMN_NAMES

TITLE_FORMULA = "mean(title-length KS complement, vocabulary coverage)"


LENGTH_SUFFIX = " (length)"  # a text column scored by its length in the SDMetrics table


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)


# -- the SDMetrics table -------------------------------------------------------------------------------------
def _is_url_column(values: pd.Series) -> bool:
    text = values.dropna().astype(str)
    return len(text) > 0 and text.str.match(r"https?://").mean() >= 0.5


def sdmetrics_table(real: pd.DataFrame, synth: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """The two tables and the metadata given to SDMetrics, and the columns left out with the reason.

    Types are decided on the real data: an integer column unique in every row is an id (left out); an
    integer column with at most 10 values is categorical (flg_discount), other numbers numerical; a string
    column of URLs is left out; a string column with at most min(200, rows/2) values is categorical;
    any other string column (titles) is replaced by its length in characters, a numerical column named
    ``<column> (length)``.

    Returns:
        ``(real_table, synth_table, metadata, not_scored)``, ``not_scored`` mapping column -> reason.
    """
    n = len(real)
    max_classes = min(200, max(1, n // 2))
    real_out, synth_out, columns, not_scored = {}, {}, {}, {}
    for name in COLUMN_NAMES:
        r, s = real[name], synth[name]
        if pd.api.types.is_integer_dtype(r):
            if r.nunique() == n and n > 1:
                not_scored[name] = "id: unique in every row"
                continue
            sdtype = "categorical" if r.nunique() <= 10 else "numerical"
        elif pd.api.types.is_numeric_dtype(r):
            sdtype = "numerical"
        elif _is_url_column(r):
            not_scored[name] = "URL: unique by construction"
            continue
        elif r.nunique() <= max_classes:
            sdtype = "categorical"
        else:
            length = name + LENGTH_SUFFIX
            real_out[length] = r.astype(str).str.len().astype(float)
            synth_out[length] = s.astype(str).str.len().astype(float)
            columns[length] = {"sdtype": "numerical"}
            not_scored[name] = f"free text: scored by its length as {length!r}"
            continue
        if sdtype == "categorical":
            real_out[name], synth_out[name] = r.astype(str).astype(object), s.astype(str).astype(object)
        else:
            real_out[name], synth_out[name] = r.astype(float), s.astype(float)
        columns[name] = {"sdtype": sdtype}
    metadata = {"tables": {"products": {"columns": columns}}}
    return pd.DataFrame(real_out), pd.DataFrame(synth_out), metadata, not_scored


def sdmetrics_quality(real: pd.DataFrame, synth: pd.DataFrame) -> dict:
    """SDMetrics' QualityReport on ``sdmetrics_table``: overall score, both properties and their details."""
    from sdmetrics.reports import QualityReport

    real_t, synth_t, metadata, not_scored = sdmetrics_table(real, synth)
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDMetrics warns about constant columns, which the real data has
        report.generate({"products": real_t}, {"products": synth_t}, metadata, verbose=False)
    props = {row["Property"]: as_number(row["Score"]) for _, row in report.get_properties().iterrows()}
    shapes = report.get_details("Column Shapes")
    pairs = report.get_details("Column Pair Trends")
    scored_pairs = pairs[pairs["Score"].notna()]
    return {
        "score": as_number(report.get_score()),
        "column_shapes": props.get("Column Shapes"),
        "column_pair_trends": props.get("Column Pair Trends"),
        "shapes": [
            {
                "column": row["Column"],
                "metric": row["Metric"],
                "score": as_number(row["Score"]),
                "error": row.get("Error") if isinstance(row.get("Error"), str) else None,
            }
            for _, row in shapes.iterrows()
        ],
        "pair_trends": [
            {
                "column_1": row["Column 1"],
                "column_2": row["Column 2"],
                "metric": row["Metric"],
                "score": as_number(row["Score"]),
                "real_correlation": as_number(row.get("Real Correlation")),
                "synth_correlation": as_number(row.get("Synthetic Correlation")),
                "real_association": as_number(row.get("Real Association")),
            }
            for _, row in scored_pairs.iterrows()
        ],
        "pairs_considered": len(pairs),
        "metadata": metadata,
        "not_scored": not_scored,
        "sdmetrics_version": _sdmetrics_version(),
    }


def _sdmetrics_version() -> str:
    from importlib.metadata import version

    return version("sdmetrics")


def as_number(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# -- distributions -------------------------------------------------------------------------------------------
def ks_complement(real: np.ndarray, synth: np.ndarray) -> float:
    """1 - the Kolmogorov-Smirnov statistic (max gap between the two empirical CDFs): 1 means identical."""
    if len(real) == 0 or len(synth) == 0:
        return 0.0
    grid = np.union1d(real, synth)
    cdf_r = np.searchsorted(np.sort(real), grid, side="right") / len(real)
    cdf_s = np.searchsorted(np.sort(synth), grid, side="right") / len(synth)
    return float(1.0 - np.max(np.abs(cdf_r - cdf_s)))


def _shares(series: pd.Series) -> dict[str, float]:
    counts = series.astype(str).value_counts()
    return {str(k): float(v) / len(series) for k, v in counts.items()} if len(series) else {}


def category_shares(real: pd.DataFrame, synth: pd.DataFrame, column: str) -> dict:
    """Every value of ``column`` in either table with its share in each, by real share then synth share."""
    r, s = _shares(real[column]), _shares(synth[column])
    values = sorted(set(r) | set(s), key=lambda v: (-r.get(v, 0.0), -s.get(v, 0.0), v))
    return {
        "values": values,
        "real": [r.get(v, 0.0) for v in values],
        "synth": [s.get(v, 0.0) for v in values],
        "tv_complement": 1.0 - 0.5 * sum(abs(r.get(v, 0.0) - s.get(v, 0.0)) for v in values),
    }


def shared_histogram(real: np.ndarray, synth: np.ndarray, bins: int = 12, log: bool = False) -> dict:
    """Both samples on the same bins (log-spaced for prices), as shares of each sample."""
    both = np.concatenate([real, synth])
    both = both[np.isfinite(both) & ((both > 0) if log else True)]
    if both.size == 0:
        return {"bin_edges": [], "real": [], "synth": []}
    lo, hi = float(both.min()), float(both.max())
    if lo == hi:
        hi = lo + 1.0
    edges = np.geomspace(lo, hi, bins + 1) if log else np.linspace(lo, hi, bins + 1)

    def shares(x: np.ndarray) -> list[float]:
        counts, _ = np.histogram(x, bins=edges)
        return [float(c) / max(1, len(x)) for c in counts]

    return {"bin_edges": [float(e) for e in edges], "real": shares(real), "synth": shares(synth)}


def title_words(titles: pd.Series) -> Counter[str]:
    """Lower-case words of every title (letters only, any script), counted with repeats."""
    words: Counter[str] = Counter()
    for title in titles.astype(str):
        words.update(w.lower() for w in _WORD.findall(title))
    return words


def title_comparison(real: pd.Series, synth: pd.Series, top: int = 15) -> dict:
    """Title lengths (KS complement, histogram), uniqueness, vocabulary overlap; ``score`` combines them."""
    real_len = real.astype(str).str.len().to_numpy(dtype=float)
    synth_len = synth.astype(str).str.len().to_numpy(dtype=float)
    rw, sw = title_words(real), title_words(synth)
    shared = set(rw) & set(sw)
    coverage = sum(c for w, c in rw.items() if w in sw) / max(1, sum(rw.values()))
    length_ks = ks_complement(real_len, synth_len)
    return {
        "length": {
            "real": {
                "min": as_number(real_len.min()),
                "max": as_number(real_len.max()),
                "mean": as_number(real_len.mean()),
            },
            "synth": {
                "min": as_number(synth_len.min()),
                "max": as_number(synth_len.max()),
                "mean": as_number(synth_len.mean()),
            },
            "ks_complement": length_ks,
            "histogram": shared_histogram(real_len, synth_len, bins=12),
        },
        "unique_share": {
            "real": real.nunique() / max(1, len(real)),
            "synth": synth.nunique() / max(1, len(synth)),
        },
        "vocabulary": {
            "real_size": len(rw),
            "synth_size": len(sw),
            "shared": len(shared),
            "jaccard": len(shared) / max(1, len(set(rw) | set(sw))),
            "coverage": coverage,
            "missing_top": [
                [w, c] for w, c in sorted(rw.items(), key=lambda kv: (-kv[1], kv[0])) if w not in sw
            ][:top],
            "extra_top": [
                [w, c] for w, c in sorted(sw.items(), key=lambda kv: (-kv[1], kv[0])) if w not in rw
            ][:top],
        },
        "score": 0.5 * (length_ks + coverage),
        "formula": TITLE_FORMULA,
    }
