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

``compare_datasets`` adds the other two questions, privacy and utility, judged against the rows the fit never
saw, with real-vs-synthetic detection and one verdict (``datagen.fidelity.judge``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.outputs import (
    FIDELITY_PAGE,
    check_replaceable_file,
    claim_output,
    json_with_keys,
    our_page,
    write_files_atomically,
)
from datagen import __version__
from datagen.config import CompareConfig
from datagen.fidelity.scores import (
    as_number,
    category_shares,
    ks_complement,
    sdmetrics_quality,
    shared_histogram,
    title_comparison,
)
from datagen.stats import MAX_LABELS, column_relations, column_stats, most_frequent

OVERALL_FORMULA = "schema x (0.75 x sdmetrics_quality + 0.25 x titles)"
CATEGORY_COLUMNS = ("category1_code", "category2_code", "category3_code")
PRICE_COLUMN = "full_price"
_ARROW_DTYPES = {"string": ("string", "large_string"), "int64": ("int64",), "float64": ("double",)}


# -- schema --------------------------------------------------------------------------------------------------
def disk_schema(path: str | Path) -> dict[str, str]:
    """Column -> type as stored: a DATASET dir's first split (either layout), a parquet or JSONL file's own
    types, or, for a CSV file (text only), the DBQ types its cells are read as."""
    path = Path(path).expanduser()
    if path.is_dir():
        from contracts.dataset.reader import stored_types

        return stored_types(path)
    from datagen.real.sources import load_file

    records = load_file(path)[:1000]
    if path.suffix.lower() == ".csv":
        # A CSV cell has no type: each column has the DBQ type its cells coerce to, as `datagen real --from`
        # and ``read_table`` read it (a column none of whose cells fits its type is refused there).
        from datagen.real.rows import coerce_rows

        coerce_rows(records)
        columns = dict.fromkeys(c for r in records for c in r)
        return {c: COLUMNS.get(c, "string") for c in columns}
    frame = pd.DataFrame.from_records(records)
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
            "median": {"real": as_number(np.median(real_price)), "synth": as_number(np.median(synth_price))},
            "ks_complement": ks_complement(real_price, synth_price),
            "histogram": shared_histogram(real_price, synth_price, bins=14, log=True),
        },
        "label_threshold": MAX_LABELS,
    }


def compare_datasets(
    real_dir: str | Path,
    synth_dir: str | Path,
    holdout: str | Path | None = None,
    seed: int = 0,
    quiet: bool = True,
    note: Callable[[str], None] | None = None,
) -> dict:
    """Compare two DATASET dirs (or DBQ table files): ``compare_tables`` on all their rows, then privacy,
    utility and detection (``datagen.fidelity.judge``), with their paths.

    ``holdout`` names the real rows the fit never saw (default: those the synthetic data's profile records);
    ``note`` receives one line per metric skipped and why.

    Raises:
        UserError: a path is not a readable dataset, or the holdout shares products with the real rows.
    """
    from datagen.fidelity.holdout import load_rows
    from datagen.fidelity.judge import find_sides, judge

    real, synth = load_rows(real_dir), load_rows(synth_dir)
    sides = find_sides(real, synth, synth_dir, holdout)  # a bad --holdout fails before the long work
    columns = list(COLUMN_NAMES)
    result = compare_tables(real[columns], synth[columns], disk_schema(real_dir), disk_schema(synth_dir))
    result.update(judge(real, synth, synth_dir, holdout, seed, quiet, note, sides))
    result["inputs"] = {
        "real": str(real_dir),
        "synth": str(synth_dir),
        "holdout": None if holdout is None else str(holdout),
    }
    return result


def sample_images(data_dir: str | Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` rows of a DATASET dir chosen with ``seed`` (by product code: reruns agree), image path and text.

    A table file has no images: the list is empty.
    """
    from contracts.dataset.reader import IMAGE_PATH, image_source, read_dataset

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
                "path": image_source(row[IMAGE_PATH]),  # a file's path, or a parquet row's bytes
                "title": str(row["title"]),
                "category": str(row["category3_code"]),
                "price": f"{row['full_price']:,.2f} {row['currency_code']}",
                "product_code": int(row["product_code"]),
            }
        )
    return out


def write_comparison(
    cfg: CompareConfig, note: Callable[[str], None] | None = None
) -> tuple[dict, Path, Path]:
    """Compare, then write the HTML report and its JSON twin (same name, ``.json``) atomically.

    ``note`` receives one line per metric skipped and why.

    Returns:
        ``(result, html_path, json_path)``; the JSON holds ``result`` and the config.
    """
    from reports.fidelity import render_fidelity

    html_path = Path(cfg.report).expanduser().absolute()
    json_path = html_path.with_suffix(".json")
    _check_report_paths(html_path, json_path, cfg.overwrite)
    result = compare_datasets(cfg.real_dir, cfg.synth_dir, cfg.holdout, cfg.seed, cfg.quiet, note)
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
    check_replaceable_file(
        html_path, our_page(FIDELITY_PAGE), overwrite=overwrite, what="fidelity report", flag="--report"
    )
    check_replaceable_file(
        json_path, json_with_keys("quality", "overall"), overwrite=overwrite, what="report", flag="--report"
    )
