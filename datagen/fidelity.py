"""`datagen compare`: how close a synthetic dataset is to a real one, as numbers (the report draws them).

What is measured:

- **schema**: the on-disk columns and types of both, against the 17 DBQ columns;
- **SDMetrics quality** (``sdmetrics.reports.QualityReport``, MIT): *Column Shapes* (KS complement for
  numbers, TV complement for categories) and *Column Pair Trends* (correlation or contingency similarity,
  scored by SDMetrics on the pairs whose real correlation >= 0.5 or association >= 0.3); its overall score is
  the mean of the two. The table given to it is built by ``sdmetrics_table``: strings with few classes are
  categorical, prices numerical, unique ids and URLs left out, and long text (titles) scored by its length;
- **titles**: KS complement of their lengths and the vocabulary overlap, where *coverage* is the share of
  real title words (counted with repeats) that also occur in synthetic titles;
- side-by-side column statistics (``datagen.stats``), category shares and price and title-length histograms.

The **overall score** is ``schema x (0.75 x quality + 0.25 x titles)``: the schema score (share of the 17
columns present in both with the same type) gates everything, SDMetrics' quality carries most of the weight,
and titles, which SDMetrics sees only through their length, add their vocabulary.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.outputs import (
    check_replaceable_file,
    claim_output,
    is_our_html,
    json_with_keys,
    write_files_atomically,
)
from datagen import __version__
from datagen.real_config import CompareConfig
from datagen.stats import MAX_LABELS, column_relations, column_stats, most_frequent, read_table

OVERALL_FORMULA = "schema x (0.75 x sdmetrics_quality + 0.25 x titles)"
TITLE_FORMULA = "mean(title-length KS complement, vocabulary coverage)"
LENGTH_SUFFIX = " (length)"  # a text column scored by its length in the SDMetrics table
CATEGORY_COLUMNS = ("category1_code", "category2_code", "category3_code")
PRICE_COLUMN = "full_price"
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_ARROW_DTYPES = {"string": ("string", "large_string"), "int64": ("int64",), "float64": ("double",)}


# -- schema --------------------------------------------------------------------------------------------------
def disk_schema(path: str | Path) -> dict[str, str]:
    """Column -> type as stored: a DATASET dir's first metadata parquet, or a table file's frame."""
    path = Path(path).expanduser()
    if path.is_dir():
        import pyarrow.parquet as pq

        for split in layout.SPLITS:
            meta = path / split / layout.METADATA_FILE
            if meta.is_file():
                return {f.name: str(f.type) for f in pq.read_schema(meta)}
        return {}
    from datagen.importer import load_file

    frame = pd.DataFrame.from_records(load_file(path)[:1000])
    return {c: str(t) for c, t in frame.dtypes.items()}


def _type_ok(dtype: str | None, expected: str) -> bool:
    if dtype is None:
        return False
    return (
        dtype in _ARROW_DTYPES[expected] or dtype == expected or (expected == "string" and dtype == "object")
    )


def schema_diff(real: dict[str, str], synth: dict[str, str]) -> dict:
    """Each column of either side with both types; ``score`` is the share of DBQ columns right in both."""
    names = list(COLUMN_NAMES) + [c for c in dict.fromkeys([*real, *synth]) if c not in COLUMNS]
    rows = []
    for name in names:
        expected = COLUMNS.get(name)
        real_t, synth_t = real.get(name), synth.get(name)
        if expected is not None:
            ok = _type_ok(real_t, expected) and _type_ok(synth_t, expected)
        else:
            ok = name == FILE_NAME or real_t == synth_t
        rows.append(
            {"column": name, "expected": expected, "real": real_t, "synth": synth_t, "match": bool(ok)}
        )
    matched = sum(r["match"] for r in rows if r["expected"] is not None)
    return {"columns": rows, "score": matched / len(COLUMN_NAMES)}


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
    props = {row["Property"]: _num(row["Score"]) for _, row in report.get_properties().iterrows()}
    shapes = report.get_details("Column Shapes")
    pairs = report.get_details("Column Pair Trends")
    scored_pairs = pairs[pairs["Score"].notna()]
    return {
        "score": _num(report.get_score()),
        "column_shapes": props.get("Column Shapes"),
        "column_pair_trends": props.get("Column Pair Trends"),
        "shapes": [
            {
                "column": row["Column"],
                "metric": row["Metric"],
                "score": _num(row["Score"]),
                "error": row.get("Error") if isinstance(row.get("Error"), str) else None,
            }
            for _, row in shapes.iterrows()
        ],
        "pair_trends": [
            {
                "column_1": row["Column 1"],
                "column_2": row["Column 2"],
                "metric": row["Metric"],
                "score": _num(row["Score"]),
                "real_correlation": _num(row.get("Real Correlation")),
                "synth_correlation": _num(row.get("Synthetic Correlation")),
                "real_association": _num(row.get("Real Association")),
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


def _num(value: object) -> float | None:
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
            "real": {"min": _num(real_len.min()), "max": _num(real_len.max()), "mean": _num(real_len.mean())},
            "synth": {
                "min": _num(synth_len.min()),
                "max": _num(synth_len.max()),
                "mean": _num(synth_len.mean()),
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


# -- side by side --------------------------------------------------------------------------------------------
def summarise(stat: dict) -> str:
    """One line for a column statistic: classes with shares, a length range, or a number range."""
    if stat["kind"] == "label":
        n = max(1, stat["n"] - stat["n_missing"])
        top = ", ".join(f"{v} {c / n:.0%}" for v, c in list(stat["frequencies"].items())[:4])
        more = " …" if stat["n_unique"] > 4 else ""
        return f"{stat['n_unique']} {'class' if stat['n_unique'] == 1 else 'classes'}: {top}{more}"
    if stat["kind"] == "text":
        length = stat["length"]
        return f"{stat['n_unique']:,} distinct, length {length['min']:.0f}–{length['max']:.0f}"
    if "min" not in stat:
        return "no values"
    return f"{_short(stat['min'])} – {_short(stat['max'])} (mean {_short(stat['mean'])})"


def _short(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) or abs(x) >= 10_000 else f"{x:,.2f}"


def side_by_side(real: pd.DataFrame, synth: pd.DataFrame) -> list[dict]:
    """Per column: its statistics on each side, a one-line summary of each, and whether constancy agrees."""
    out = []
    for r, s in zip(column_stats(real), column_stats(synth), strict=True):
        out.append(
            {
                "column": r["column"],
                "kind": r["kind"],
                "real": summarise(r),
                "synth": summarise(s),
                "constant": {"real": r["constant"], "synth": s["constant"]},
                "real_stats": r,
                "synth_stats": s,
            }
        )
    return out


# -- the comparison ------------------------------------------------------------------------------------------
def compare_tables(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    real_schema: dict[str, str] | None = None,
    synth_schema: dict[str, str] | None = None,
) -> dict:
    """Compare two tables of the 17 columns; see the module docstring. Pure: data in, JSON-ready dict out."""
    real = real[list(COLUMN_NAMES)].reset_index(drop=True)
    synth = synth[list(COLUMN_NAMES)].reset_index(drop=True)
    schema = schema_diff(
        real_schema if real_schema is not None else {c: str(t) for c, t in real.dtypes.items()},
        synth_schema if synth_schema is not None else {c: str(t) for c, t in synth.dtypes.items()},
    )
    quality = sdmetrics_quality(real, synth)
    titles = title_comparison(real["title"], synth["title"])
    q = quality["score"] or 0.0
    overall = schema["score"] * (0.75 * q + 0.25 * titles["score"])
    real_price = real[PRICE_COLUMN].to_numpy(dtype=float)
    synth_price = synth[PRICE_COLUMN].to_numpy(dtype=float)
    return {
        "rows": {"real": len(real), "synth": len(synth)},
        "overall": {
            "score": overall,
            "formula": OVERALL_FORMULA,
            "components": {"schema": schema["score"], "sdmetrics_quality": q, "titles": titles["score"]},
        },
        "schema": schema,
        "quality": quality,
        "titles": titles,
        "columns": side_by_side(real, synth),
        "relations": {
            "real": [r["text"] for r in column_relations(real)],
            "synth": [r["text"] for r in column_relations(synth)],
        },
        "categories": {c: category_shares(real, synth, c) for c in CATEGORY_COLUMNS},
        "price": {
            "column": PRICE_COLUMN,
            "currency": {
                "real": most_frequent(real["currency_code"]),
                "synth": most_frequent(synth["currency_code"]),
            },
            "median": {"real": _num(np.median(real_price)), "synth": _num(np.median(synth_price))},
            "ks_complement": ks_complement(real_price, synth_price),
            "histogram": shared_histogram(real_price, synth_price, bins=14, log=True),
        },
        "label_threshold": MAX_LABELS,
    }


def compare_datasets(real_dir: str | Path, synth_dir: str | Path) -> dict:
    """Compare two DATASET dirs (or DBQ table files): ``compare_tables`` on all their rows, with their paths.

    Raises:
        UserError: either path is not a readable dataset.
    """
    result = compare_tables(
        read_table(real_dir), read_table(synth_dir), disk_schema(real_dir), disk_schema(synth_dir)
    )
    result["inputs"] = {"real": str(real_dir), "synth": str(synth_dir)}
    return result


def sample_images(data_dir: str | Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` rows of a DATASET dir chosen with ``seed`` (by product code: reruns agree), image path and text.

    A table file has no images: the list is empty.
    """
    from contracts.dataset.reader import IMAGE_PATH, read_dataset

    path = Path(data_dir).expanduser()
    if not path.is_dir() or n <= 0:
        return []
    frame = pd.concat(read_dataset(path).values(), ignore_index=True).sort_values("product_code")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(frame), size=min(n, len(frame)), replace=False))
    out = []
    for _, row in frame.iloc[picks].iterrows():
        out.append(
            {
                "path": str(row[IMAGE_PATH]),
                "title": str(row["title"]),
                "category": str(row["category3_code"]),
                "price": f"{row['full_price']:,.2f} {row['currency_code']}",
                "product_code": int(row["product_code"]),
            }
        )
    return out


def write_comparison(cfg: CompareConfig) -> tuple[dict, Path, Path]:
    """Compare, then write the HTML report and its JSON twin (same name, ``.json``) atomically.

    Returns:
        ``(result, html_path, json_path)``; the JSON holds ``result`` and the config.
    """
    from reports.fidelity import render_fidelity

    html_path = Path(cfg.report).expanduser().absolute()
    json_path = html_path.with_suffix(".json")
    _check_report_paths(html_path, json_path, cfg.overwrite)
    result = compare_datasets(cfg.real_dir, cfg.synth_dir)
    result["config"] = asdict(cfg)
    images = {
        "real": sample_images(cfg.real_dir, cfg.images, cfg.seed),
        "synth": sample_images(cfg.synth_dir, cfg.images, cfg.seed),
    }
    html = render_fidelity({**result, "images": images, "generator": f"datagen compare {__version__}"})
    with claim_output(html_path, flag="--report"):
        _check_report_paths(html_path, json_path, cfg.overwrite)
        write_files_atomically(
            {
                json_path: (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
                html_path: html.encode("utf-8"),
            },
            flag="--report",
        )
    return result, html_path, json_path


def _check_report_paths(html_path: Path, json_path: Path, overwrite: bool) -> None:
    """Refuse to replace a report or JSON twin that is not ours, or any without ``--overwrite``."""
    check_replaceable_file(html_path, is_our_html, overwrite=overwrite, what="report", flag="--report")
    check_replaceable_file(
        json_path, json_with_keys("quality", "overall"), overwrite=overwrite, what="report", flag="--report"
    )
