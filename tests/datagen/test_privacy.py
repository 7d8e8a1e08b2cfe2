"""Privacy figures: a synthetic set that copies its source scores as leaking, an independent sample of the
same source as safe; each hand-computed figure equals SDMetrics' own on the same tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from datagen.fidelity import privacy as P
from datagen.fidelity.verdict import MAX_DISTANCE_SHARE, privacy_checks
from tests.datagen.fixtures_real import catalogue_sample


@pytest.fixture(scope="module")
def sides() -> dict[str, pd.DataFrame]:
    """The fit's rows, a holdout and an independent sample (all from one catalogue), and a copy of the fit."""
    fit = pd.DataFrame(catalogue_sample(0, 300))
    return {
        "fit": fit,
        "holdout": pd.DataFrame(catalogue_sample(1, 300, code_base=40_000_000)),
        "fresh": pd.DataFrame(catalogue_sample(2, 300, code_base=50_000_000)),
        "copy": fit.sample(frac=1.0, random_state=0).reset_index(drop=True),
    }


def _privacy(sides: dict, synth: str) -> dict:
    s, f, h = sides[synth], sides["fit"], sides["holdout"]
    return {
        "copies": P.copies(s, f, h),
        "distance": P.distance_share(s, f, h),
        "baseline": P.baseline_protection(s, f, h),
        "disclosure": P.disclosure(s, f, h),
    }


def test_a_copy_of_the_source_scores_as_leaking(sides):
    """Every row and title copied, all rows closer to the fit, distances 0, prices disclosed: all fail."""
    result = _privacy(sides, "copy")
    assert result["copies"]["rows"]["synth"] == 1.0 and result["copies"]["titles"]["synth"] == 1.0
    assert result["copies"]["new_row_synthesis"]["synth"] == 0.0
    assert result["distance"]["share"] > 0.9 and result["distance"]["sdmetrics_overfitting_protection"] < 0.2
    assert result["baseline"]["synth"]["score"] == 0.0 < result["baseline"]["holdout"]["score"]
    assert result["disclosure"]["synth"] < result["disclosure"]["holdout"] - 0.2
    assert not any(c["ok"] for c in privacy_checks(result, promised=False))


def test_an_independent_sample_of_the_source_scores_as_safe(sides):
    """A fresh sample copies as often as the holdout does, sits half-way, and passes every check."""
    result = _privacy(sides, "fresh")
    rows, titles = result["copies"]["rows"], result["copies"]["titles"]
    assert abs(titles["synth"] - titles["holdout"]) < 0.08 and rows["synth"] <= rows["holdout"] + 0.02
    assert abs(result["distance"]["share"] - 0.5) < 0.07
    assert abs(result["baseline"]["synth"]["score"] - result["baseline"]["holdout"]["score"]) < 0.3
    assert abs(result["disclosure"]["synth"] - result["disclosure"]["holdout"]) < 0.1
    checks = {c["name"]: c for c in privacy_checks(result, promised=False)}
    assert checks["distance_share"]["ok"] and checks["title_copies"]["ok"]
    assert checks["distance_share"]["limit"] == MAX_DISTANCE_SHARE


def test_copies_fold_case_and_spacing_and_match_prices_within_one_percent():
    """A row is a copy with the title in other case and spacing and the price 0.9% off, not 1.1% off."""
    source = pd.DataFrame(catalogue_sample(0, 3))
    rows = source.copy()
    rows["title"] = rows["title"].str.upper().str.replace(" ", "  ")
    rows["full_price"] = rows["full_price"] * np.array([1.009, 1.011, 1.0])
    rows.loc[2, "category3_code"] = "OTHER"
    assert P.copied_rows(rows, source).tolist() == [True, False, False]
    assert P.copied_titles(rows, source).tolist() == [True, True, True]


def _nrs_table(t: pd.DataFrame) -> pd.DataFrame:
    out = t[list(P.COPY_COLUMNS)].copy()
    out["title"] = out["title"].map(P.title_key)
    return out.astype({c: object for c in ("title", *P.CATEGORY_COLUMNS)})


def test_row_copies_equal_sdmetrics_new_row_synthesis(sides):
    """1 - our copy rate is SDMetrics' NewRowSynthesis on title, categories and price (1% tolerance)."""
    from sdmetrics.single_table import NewRowSynthesis

    rows = pd.concat([sides["fit"].head(20), sides["fresh"].head(40)], ignore_index=True)
    rows.loc[:9, "full_price"] *= 1.02  # ten copies whose price moved beyond 1%
    metadata = {"columns": {c: {"sdtype": "categorical"} for c in ("title", *P.CATEGORY_COLUMNS)}}
    metadata["columns"]["full_price"] = {"sdtype": "numerical"}
    lib = NewRowSynthesis.compute(_nrs_table(sides["fit"]), _nrs_table(rows), metadata)
    ours = 1.0 - P.copied_rows(rows, sides["fit"]).mean()
    assert ours == pytest.approx(lib) and 0.5 < ours < 1.0


def test_dcr_equals_sdmetrics_calculate_dcr(sides):
    """Our numpy distances equal SDMetrics' pandas ones, row by row."""
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    rows, ref = P.dcr_table(sides["fresh"].head(80)), P.dcr_table(sides["fit"].head(60))
    lib = calculate_dcr(rows, ref, P.DCR_METADATA).to_numpy()
    assert np.allclose(P.dcr(rows, ref), lib, atol=1e-12)


def test_overfitting_and_baseline_protection_equal_sdmetrics(sides):
    """DCROverfittingProtection and DCRBaselineProtection (seeded) as SDMetrics computes them."""
    from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection

    synth, fit, holdout = sides["fresh"].head(90), sides["fit"].head(60), sides["holdout"].head(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib = DCROverfittingProtection.compute_breakdown(
            P.dcr_table(fit), P.dcr_table(synth), P.dcr_table(holdout), P.DCR_METADATA, None
        )
        seeded = type("Seeded", (DCRBaselineProtection,), {"_seed": 3})
        base = seeded.compute_breakdown(P.dcr_table(fit), P.dcr_table(synth), P.DCR_METADATA, None)
    ours = P.distance_share(synth, fit, holdout)
    assert ours["sdmetrics_overfitting_protection"] == pytest.approx(lib["score"])
    assert ours["sdmetrics_closer_to_training"] == pytest.approx(
        lib["synthetic_data_percentages"]["closer_to_training"]
    )
    mine = P.baseline_protection(synth, fit, holdout, seed=3)["synth"]
    assert mine["score"] == pytest.approx(base["score"])
    assert mine["median_dcr_random"] == pytest.approx(base["median_DCR_to_real_data"]["random_data_baseline"])


@pytest.mark.parametrize("synth", ["copy", "fresh", "holdout"])
def test_disclosure_protection_equals_sdmetrics(sides, synth):
    """Zero-CAP DisclosureProtection (known category3 and title, price in 10 bands) equals SDMetrics'."""
    from sdmetrics.single_table import DisclosureProtection

    fit, rows = sides["fit"].head(120), sides[synth].head(150)

    def table(t: pd.DataFrame) -> pd.DataFrame:
        out = t[["category3_code", "title", "full_price"]].copy()
        out["title"] = out["title"].map(P.title_key)
        return out.astype({"title": object, "category3_code": object})

    lib = DisclosureProtection.compute(
        table(fit), table(rows), ["category3_code", "title"], ["full_price"],
        computation_method="zero_cap", continuous_column_names=["full_price"], num_discrete_bins=10,
    )  # fmt: skip
    assert P.disclosure_protection(rows, fit) == pytest.approx(lib)


def test_the_distance_share_is_half_for_a_fresh_sample_even_with_unequal_price_ranges(sides):
    """Both distances in one scale: a holdout whose price range is twice the fit's does not look nearer."""
    holdout = sides["holdout"].copy()
    holdout.loc[0, "full_price"] = sides["fit"]["full_price"].max() * 2
    share = P.distance_share(sides["fresh"], sides["fit"], holdout)
    assert abs(share["share"] - 0.5) < 0.07
    assert share["sdmetrics_closer_to_training"] < share["closer_to_fit"] - 0.1  # the library's own ranges
