"""Does the synthetic data give its source away? Each figure beside the same figure for the holdout.

The holdout is a fresh sample of the source the fit never saw: what it scores against the fit's rows is what
an honest sample of the same catalogue scores, so every synthetic figure is read beside it.

- **copies**: synthetic rows equal to a fit row (title with case and spacing folded, the three category
  codes, ``full_price`` within 1% of the row's own, as SDMetrics' ``NewRowSynthesis`` matches numbers), and
  titles equal to a fit row's title; ``NewRowSynthesis`` on those columns is one minus the row-copy rate;
- **distance to closest record** in SDMetrics' units (per column: 0/1 for categories, ``|a - b| / range``
  of the reference, capped at 1, for numbers; the mean over the columns) on the category codes, the price
  and the title's length (the columns SDMetrics' quality report sees; an equal title is a copy, above).
  The fit's rows are sampled down to the holdout's size, so a synthetic row no closer to the fit than to a
  fresh sample is closer to the fit's rows half of the time: the *share* ideal is 50%. Reported with ties
  split half and half (retail price points make exact ties common) and as SDMetrics'
  ``DCROverfittingProtection`` (``min(1, 2 x (1 - share))``, ties counted as closer to the holdout);
  ``DCRBaselineProtection`` (median distance to the fit's rows over that of random rows in the same
  ranges) for the synthetic rows and for the holdout;
- **disclosure**: SDMetrics' ``DisclosureProtection`` with zero-CAP: an attacker who knows a product's
  category3 and title reads its price band (10 equal bins) off the synthetic rows; 1 means the synthetic
  data tells no more than a guess.

SDMetrics computes these pair by pair in pandas (its NewRowSynthesis and DCR metrics take 6-9 s each on
1,520 x 1,520 rows); they are computed here with numpy in the same units and definitions, and the tests
check each figure against SDMetrics' own on the same tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datagen.catalogue.provenance import title_key

CATEGORY_COLUMNS = ("category1_code", "category2_code", "category3_code")
PRICE = "full_price"
COPY_COLUMNS = ("title", *CATEGORY_COLUMNS, PRICE)
PRICE_TOLERANCE = 0.01  # SDMetrics' NewRowSynthesis default: numbers within 1% of the synthetic value match
PRICE_BINS = 10  # DisclosureProtection's default number of price bands


def missing_columns(table: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    return [c for c in columns if c not in table.columns]


# -- copies --------------------------------------------------------------------------------------------------
def _keyed(table: pd.DataFrame) -> pd.DataFrame:
    out = table[list(COPY_COLUMNS)].copy()
    out["title"] = out["title"].map(title_key)
    for c in CATEGORY_COLUMNS:
        out[c] = out[c].astype(str)
    out[PRICE] = out[PRICE].astype(float)
    return out


def copied_rows(rows: pd.DataFrame, source: pd.DataFrame) -> np.ndarray:
    """True for each row of ``rows`` equal to a ``source`` row: same folded title and category codes, and a
    price within ``PRICE_TOLERANCE`` of its own (``|source - row| <= 0.01 x |row|``, as NewRowSynthesis)."""
    keys = ["title", *CATEGORY_COLUMNS]
    left = _keyed(rows).reset_index(drop=True)
    left["_row"] = np.arange(len(left))
    pairs = left.merge(_keyed(source), on=keys, suffixes=("", "_source"))
    close = (pairs[f"{PRICE}_source"] - pairs[PRICE]).abs() <= PRICE_TOLERANCE * pairs[PRICE].abs()
    out = np.zeros(len(left), dtype=bool)
    out[pairs.loc[close, "_row"].to_numpy()] = True
    return out


def copied_titles(rows: pd.DataFrame, source: pd.DataFrame) -> np.ndarray:
    """True for each row of ``rows`` whose folded title is the folded title of a ``source`` row."""
    known = set(source["title"].map(title_key))
    return rows["title"].map(title_key).isin(known).to_numpy()


def _examples(rows: pd.DataFrame, mask: np.ndarray, n: int = 5) -> list[str]:
    return sorted(set(rows.loc[mask, "title"].astype(str)))[:n]


def copies(synth: pd.DataFrame, fit_rows: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    """Row and title copies of the fit's rows: the synthetic rate beside the holdout's own rate; and
    ``new_row_synthesis``, SDMetrics' NewRowSynthesis on the same columns (1 - the row-copy rate)."""
    out: dict = {}
    for name, fn in (("rows", copied_rows), ("titles", copied_titles)):
        s, h = fn(synth, fit_rows), fn(holdout, fit_rows)
        out[name] = {
            "synth": float(s.mean()),
            "synth_count": int(s.sum()),
            "holdout": float(h.mean()),
            "holdout_count": int(h.sum()),
            "examples": _examples(synth, s),
        }
    out["new_row_synthesis"] = {"synth": 1.0 - out["rows"]["synth"], "holdout": 1.0 - out["rows"]["holdout"]}
    return out


# -- distance to closest record ------------------------------------------------------------------------------
LENGTH = "title (length)"
DCR_COLUMNS = (*CATEGORY_COLUMNS, PRICE, LENGTH)
DCR_METADATA = {
    "columns": {
        **{c: {"sdtype": "categorical"} for c in CATEGORY_COLUMNS},
        PRICE: {"sdtype": "numerical"},
        LENGTH: {"sdtype": "numerical"},
    }
}


def dcr_table(table: pd.DataFrame) -> pd.DataFrame:
    """The columns distances are measured on: category codes (text), price and title length (floats)."""
    out = pd.DataFrame({c: table[c].astype(str).astype(object).to_numpy() for c in CATEGORY_COLUMNS})
    out[PRICE] = table[PRICE].to_numpy(dtype=float)
    out[LENGTH] = table["title"].astype(str).str.len().to_numpy(dtype=float)
    return out


def spans(*tables: pd.DataFrame) -> dict[str, float]:
    """The range (max - min) of each numeric DCR column over all ``tables``."""
    both = pd.concat([t[[PRICE, LENGTH]] for t in tables], ignore_index=True)
    return {c: float(both[c].max() - both[c].min()) for c in (PRICE, LENGTH)}


def dcr(
    rows: pd.DataFrame, reference: pd.DataFrame, ranges: dict[str, float] | None = None, chunk: int = 512
) -> np.ndarray:
    """Each row's distance to its closest ``reference`` row; both tables as ``dcr_table`` makes them. Equals
    SDMetrics' ``calculate_dcr`` with ``DCR_METADATA``: numbers scaled by the reference's range (or by
    ``ranges``, to measure against two references in one scale), a zero range counting any difference as 1."""
    ranges = ranges or spans(reference)
    cats, nums = [], []
    for c in CATEGORY_COLUMNS:
        codes, _ = pd.factorize(pd.concat([rows[c], reference[c]], ignore_index=True))
        cats.append((codes[: len(rows)], codes[len(rows) :]))
    for c in (PRICE, LENGTH):
        nums.append((rows[c].to_numpy(dtype=float), reference[c].to_numpy(dtype=float), ranges[c]))
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        stop = min(start + chunk, len(rows))
        total = np.zeros((stop - start, len(reference)))
        for r_codes, ref_codes in cats:
            total += r_codes[start:stop, None] != ref_codes[None, :]
        for r, ref, span in nums:
            diff = np.abs(r[start:stop, None] - ref[None, :])
            total += np.minimum(diff / span, 1.0) if span > 0 else diff > 0
        out[start:stop] = total.min(axis=1) / len(DCR_COLUMNS)
    return out


def _sample(table: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(table) <= n:
        return table.reset_index(drop=True)
    return table.sample(n=n, random_state=seed).reset_index(drop=True)


def distance_share(synth: pd.DataFrame, fit_rows: pd.DataFrame, holdout: pd.DataFrame, seed: int = 0) -> dict:
    """The share of synthetic rows closer to the fit's rows than to the holdout, on equal-sized samples.

    ``share`` measures both distances in one scale (the ranges of both samples together) and counts a tie
    as half, so a fresh sample of the source scores 50%. ``sdmetrics_overfitting_protection`` is SDMetrics'
    DCROverfittingProtection on the same samples, as the library computes it: each reference scaled by its
    own ranges (a holdout with a wider price range looks nearer), a tie counted as closer to the
    holdout, ``min(1, 2 x (1 - closer))``.
    """
    n = min(len(fit_rows), len(holdout))
    fit_s = dcr_table(_sample(fit_rows, n, seed))
    hold_s = dcr_table(_sample(holdout, n, seed + 1))
    rows = dcr_table(synth)
    scale = spans(fit_s, hold_s)
    to_fit, to_hold = dcr(rows, fit_s, scale), dcr(rows, hold_s, scale)
    closer, ties = float(np.mean(to_fit < to_hold)), float(np.mean(to_fit == to_hold))
    sdm_closer = float(np.mean(dcr(rows, fit_s) < dcr(rows, hold_s)))
    return {
        "share": closer + 0.5 * ties,
        "closer_to_fit": closer,
        "ties": ties,
        "rows_per_side": n,
        "sdmetrics_overfitting_protection": min(1.0, 2.0 * (1.0 - sdm_closer)),
        "sdmetrics_closer_to_training": sdm_closer,
        "median_dcr": {"to_fit": float(np.median(to_fit)), "to_holdout": float(np.median(to_hold))},
    }


def random_rows(reference: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` random rows in the ranges of ``reference`` (a ``dcr_table``), drawn as SDMetrics'
    DCRBaselineProtection draws them: per column in order, a uniform number between the column's min and
    max, or one of its distinct values, from one ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in reference.columns:
        col = reference[c]
        if pd.api.types.is_float_dtype(col):
            out[c] = rng.uniform(low=col.min(), high=col.max(), size=n)
        else:
            out[c] = rng.choice(col.dropna().unique(), size=n)
    return pd.DataFrame(out)


def baseline_protection(
    synth: pd.DataFrame, fit_rows: pd.DataFrame, holdout: pd.DataFrame, seed: int = 0
) -> dict:
    """SDMetrics' DCRBaselineProtection against the fit's rows, for the synthetic rows and for the holdout:
    ``min(1, median distance to the closest fit row / that of as many random rows)`` (1: as far from the fit
    as random rows; a fresh real sample scores what the holdout scores)."""
    fit_t = dcr_table(fit_rows)
    out = {}
    for side, rows in (("synth", synth), ("holdout", holdout)):
        rows_t = dcr_table(rows)
        median = float(np.median(dcr(rows_t, fit_t)))
        median_random = float(np.median(dcr(random_rows(fit_t, len(rows_t), seed), fit_t)))
        score = min(median / median_random, 1.0) if median_random > 0 else None
        out[side] = {"score": score, "median_dcr": median, "median_dcr_random": median_random}
    return out


# -- disclosure ----------------------------------------------------------------------------------------------
KNOWN = ("category3_code", "title")


def price_bands(
    fit_prices: np.ndarray, other: np.ndarray, bins: int = PRICE_BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Both price columns as band numbers: ``bins`` equal-width bands of the fit's prices, the outer edges
    open, as DisclosureProtection discretises a continuous column."""
    _, edges = pd.cut(fit_prices, bins, retbins=True)
    edges[0], edges[-1] = -np.inf, np.inf
    band = lambda x: pd.cut(x, edges, labels=False)  # noqa: E731
    return np.asarray(band(fit_prices)), np.asarray(band(other))


def disclosure_protection(rows: pd.DataFrame, fit_rows: pd.DataFrame) -> float | None:
    """SDMetrics' DisclosureProtection (zero-CAP) of the fit's rows given ``rows``: for each fit row, the
    share of ``rows`` with its category3 and folded title that lie in its price band (0 when none has them);
    protection = 1 - the mean, scored against the guess baseline ``1 - 1 / bands`` and capped at 1."""
    fit_band, rows_band = price_bands(
        fit_rows[PRICE].to_numpy(dtype=float), rows[PRICE].to_numpy(dtype=float)
    )
    key = lambda t: t["category3_code"].astype(str) + "\x00" + t["title"].map(title_key)  # noqa: E731
    synth = pd.DataFrame({"key": key(rows).to_numpy(), "band": rows_band})
    counts = synth.groupby(["key", "band"]).size()
    totals = synth.groupby("key").size()
    fit = pd.DataFrame({"key": key(fit_rows).to_numpy(), "band": fit_band})
    hit = counts.reindex(pd.MultiIndex.from_frame(fit[["key", "band"]]), fill_value=0).to_numpy()
    total = totals.reindex(fit["key"], fill_value=0).to_numpy()
    belief = np.divide(hit, total, out=np.zeros(len(fit)), where=total > 0)
    baseline = 1.0 - 1.0 / len(np.unique(fit_band))
    if baseline == 0:
        return None
    return min((1.0 - float(belief.mean())) / baseline, 1.0)


def disclosure(synth: pd.DataFrame, fit_rows: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    """DisclosureProtection of the fit's rows given the synthetic rows, and given the holdout."""
    return {
        "synth": disclosure_protection(synth, fit_rows),
        "holdout": disclosure_protection(holdout, fit_rows),
        "known": list(KNOWN),
        "sensitive": f"{PRICE} in {PRICE_BINS} bands",
    }
