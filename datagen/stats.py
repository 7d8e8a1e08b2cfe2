"""Per-column statistics of a table, summarised the way the Hugging Face dataset viewer does it.

- strings with at most ``MAX_LABELS`` distinct values are labels: their classes and counts;
- other strings are text: the distribution of their lengths (and the most frequent values);
- numbers: min, max, mean, median, std and a histogram;
- a column with one value is flagged constant.

``column_relations`` adds what a column-by-column view cannot show: equal columns, a constant rounded ratio
between two columns (``full_price_eur = full_price x 0.9225``), unique columns and URL patterns.
Pure functions over DataFrames; ``format_stats`` renders them as text for `datagen profile`, and
``read_table`` (the one I/O edge here) gets the rows of a DATASET dir or a DBQ table file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset.schema import COLUMN_NAMES, COLUMNS
from datagen.words import quantity

MAX_LABELS = 30  # the dataset viewer's threshold between a label column and a text column
HISTOGRAM_BINS = 10
_BAR = 24  # width of the longest text-histogram bar


def ranked_counts(values: pd.Series) -> list[tuple[str, int]]:
    """Distinct values (as text) with their counts, most frequent first, ties by value: order-independent."""
    counts = values.dropna().astype(str).value_counts(sort=False)
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


def most_frequent(values: pd.Series) -> str | None:
    """The most frequent value as text (ties by value), None when there is none."""
    ranked = ranked_counts(values)
    return ranked[0][0] if ranked else None


def _histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        return {"bin_edges": [lo, hi], "hist": [int(values.size)]}
    is_int = bool(np.all(np.equal(np.mod(values, 1), 0)))
    n_bins = min(bins, int(hi - lo) + 1) if is_int else bins
    hist, edges = np.histogram(values, bins=n_bins, range=(lo, hi))
    return {"bin_edges": [float(e) for e in edges], "hist": [int(h) for h in hist]}


def _number_summary(values: np.ndarray) -> dict:
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "histogram": _histogram(values),
    }


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def column_stats(df: pd.DataFrame, max_labels: int = MAX_LABELS, top: int = 5) -> list[dict]:
    """One dict per column of ``df``, in order (see the module docstring for what each kind holds).

    Every dict has ``column``, ``dtype``, ``kind`` (``label``, ``text`` or ``number``), ``n``, ``n_missing``,
    ``n_unique`` and ``constant``; labels add ``frequencies``; text adds ``length`` and ``top_values``;
    numbers add ``min``/``max``/``mean``/``median``/``std``/``histogram``.
    """
    out = []
    for name in df.columns:
        series = df[name]
        present = series.dropna()
        entry: dict = {
            "column": str(name),
            "dtype": str(series.dtype),
            "n": int(series.size),
            "n_missing": int(series.size - present.size),
            "n_unique": int(present.nunique()),
        }
        entry["constant"] = entry["n_unique"] == 1
        if _is_numeric(series):
            entry["kind"] = "number"
            if present.size:
                entry.update(_number_summary(present.to_numpy(dtype=float)))
        else:
            text = present.astype(str)
            ranked = ranked_counts(text)
            if entry["n_unique"] <= max_labels:
                entry["kind"] = "label"
                entry["frequencies"] = {k: int(v) for k, v in ranked}
            else:
                entry["kind"] = "text"
                lengths = text.str.len().to_numpy(dtype=float)
                entry["length"] = _number_summary(lengths)
                entry["top_values"] = {k: int(v) for k, v in ranked[:top]}
        out.append(entry)
    return out


def _url_prefix(value: str) -> str:
    return value.rsplit("/", 1)[0] + "/" if "://" in value else ""


def _rate(a: pd.Series, b: pd.Series) -> tuple[float, float] | None:
    """``(r, share)`` when ``b == a * r`` within a cent in at least half the rows, ``r`` with 4 decimals."""
    x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
    ok = x > 0
    if not ok.any():
        return None
    rate = round(float(np.median(y[ok] / x[ok])), 4)
    # Within a cent, since rounding modes differ (numpy rounds half to even on the scaled value).
    share = float(np.mean(np.abs(x * rate - y) <= 0.01 + 1e-9))
    return (rate, share) if rate > 0 and share >= 0.5 else None


def column_relations(df: pd.DataFrame) -> list[dict]:
    """Relations between and inside columns that the real DBQ data has; each dict has ``kind`` and ``text``.

    Kinds: ``equal`` (two columns equal in every row), ``ratio`` (``b == a * r`` within a cent for a rate
    ``r`` with at most 4 decimals, in the share of rows given, when at least half), ``unique`` (no repeated
    value), ``ends_with`` (a text column ends with a unique integer column, as itemurl ends with the product
    code) and ``url_prefix`` (the most common URL prefix of a URL column, when it covers half the rows).
    """
    relations: list[dict] = []
    numeric = [c for c in df.columns if _is_numeric(df[c])]
    n = len(df)
    if n == 0:
        return relations
    for i, a in enumerate(numeric):
        for b in numeric[i + 1 :]:
            if df[a].equals(df[b]) or bool((df[a].to_numpy() == df[b].to_numpy()).all()):
                relations.append({"kind": "equal", "columns": [a, b], "text": f"{b} == {a} in every row"})
    # One column per group of equal columns, so price/price_eur do not repeat full_price/full_price_eur.
    copies = {r["columns"][1] for r in relations}
    floats = [c for c in numeric if pd.api.types.is_float_dtype(df[c]) and c not in copies]
    for i, a in enumerate(floats):
        for b in floats[i + 1 :]:
            # Each pair once, in the direction that fits more rows (the earlier column first on a tie).
            candidates = []
            for order, (src, dst) in enumerate(((a, b), (b, a))):
                found = _rate(df[src], df[dst])
                if found is not None:
                    candidates.append((found[1], -order, src, dst, found[0]))
            if not candidates:
                continue
            share, _, src, dst, rate = max(candidates)
            relations.append(
                {
                    "kind": "ratio",
                    "columns": [src, dst],
                    "rate": rate,
                    "share": share,
                    "text": f"{dst} == {src} x {rate:g} to the cent in {share:.1%} of rows",
                }
            )
    strings = [c for c in df.columns if not _is_numeric(df[c])]
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_float_dtype(series):
            continue  # distinct prices say nothing
        if series.notna().all() and series.nunique() == n and n > 1:
            relations.append({"kind": "unique", "columns": [name], "text": f"{name} is unique"})
            if pd.api.types.is_integer_dtype(series):
                codes = series.astype(str)
                for other in strings:
                    ends = [str(v).endswith(c) for v, c in zip(df[other], codes, strict=True)]
                    share = sum(ends) / n
                    if share >= 0.5:
                        relations.append(
                            {
                                "kind": "ends_with",
                                "columns": [other, name],
                                "share": share,
                                "text": f"{other} ends with {name} in {share:.1%} of rows",
                            }
                        )
        if name in strings:
            prefixes = series.dropna().astype(str).map(_url_prefix)
            prefixes = prefixes[prefixes != ""]
            if len(prefixes):
                best = ranked_counts(prefixes)[0]
                if best[1] >= n / 2:
                    relations.append(
                        {
                            "kind": "url_prefix",
                            "columns": [name],
                            "prefix": best[0],
                            "share": best[1] / n,
                            "text": f"{name} starts with {best[0]} in {best[1] / n:.1%} of rows",
                        }
                    )
    return relations


def _fmt(x: float) -> str:
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.2f}"


def _bars(hist: dict, indent: str) -> list[str]:
    top = max(hist["hist"]) or 1
    edges = hist["bin_edges"]
    lines = []
    for k, count in enumerate(hist["hist"]):
        lo, hi = edges[k], edges[min(k + 1, len(edges) - 1)]
        bar = "█" * round(_BAR * count / top) if count else ""
        lines.append(f"{indent}{_fmt(lo):>14} – {_fmt(hi):<14} {bar} {count}")
    return lines


def format_stats(stats: list[dict], relations: list[dict] | None = None, n_rows: int | None = None) -> str:
    """``column_stats`` (and ``column_relations``) as text, one block per column."""
    lines = []
    if n_rows is not None:
        lines.append(f"{quantity(n_rows, 'row', sep=True)}, {quantity(len(stats), 'column')}")
        lines.append("")
    for s in stats:
        flag = "  [constant]" if s["constant"] else ""
        missing = f", {s['n_missing']} missing" if s["n_missing"] else ""
        head = f"{s['column']} ({s['dtype']}){flag}"
        if s["kind"] == "label":
            classes = "class" if s["n_unique"] == 1 else "classes"
            lines.append(f"{head}: {s['n_unique']} {classes}{missing}")
            for value, count in s["frequencies"].items():
                lines.append(f"    {value!r:<40} {count:>7,}")
        elif s["kind"] == "text":
            length = s["length"]
            lines.append(
                f"{head}: {s['n_unique']:,} distinct values{missing}, length {_fmt(length['min'])}–"
                f"{_fmt(length['max'])} (mean {length['mean']:.1f})"
            )
            lines += _bars(length["histogram"], "    ")
            if s["n_unique"] < s["n"] - s["n_missing"]:
                top = "; ".join(f"{v!r} ({c})" for v, c in s["top_values"].items())
                lines.append(f"    most frequent: {top}")
            else:
                lines.append("    every value distinct")
        else:
            if "min" not in s:
                lines.append(f"{head}: no values{missing}")
                continue
            lines.append(
                f"{head}: min {_fmt(s['min'])}, max {_fmt(s['max'])}, mean {s['mean']:,.2f}, "
                f"median {_fmt(s['median'])}, {s['n_unique']:,} distinct{missing}"
            )
            if not s["constant"]:
                lines += _bars(s["histogram"], "    ")
        lines.append("")
    if relations:
        lines.append("relations:")
        lines += [f"    {r['text']}" for r in relations]
    return "\n".join(lines).rstrip() + "\n"


def read_table(path: str | Path, split: str | None = None) -> pd.DataFrame:
    """The 17 columns of every row of a DATASET dir (or of one split), or of a parquet/CSV/JSONL DBQ table.

    Rows of a table file are coerced to the schema as `datagen real` does; rows that cannot be are dropped.

    Raises:
        UserError: the path is neither, or its data breaks the schema.
    """
    from contracts.dataset.reader import read_dataset
    from datagen.real.rows import coerce_rows
    from datagen.real.sources import load_file

    path = Path(path).expanduser()
    if path.is_file():
        rows = [row for _, row, _ in coerce_rows(load_file(path)).rows]
        return pd.DataFrame.from_records(rows, columns=list(COLUMN_NAMES)).astype(COLUMNS)
    frames = read_dataset(path, None if split is None else [split])
    return pd.concat([f[list(COLUMN_NAMES)] for f in frames.values()], ignore_index=True)
