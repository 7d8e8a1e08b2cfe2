"""`datagen fit --holdout`: which products are kept out, what the profile records, and how `compare` finds
them again (or refuses a holdout that shares products with the fit's rows)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from contracts.errors import UserError, run_cli
from datagen.cli import group
from datagen.fidelity.holdout import find_holdout, load_rows
from datagen.fit.holdout import codes_digest, holdout_mask
from datagen.fit.run import fit_source
from tests.datagen.fixtures_real import catalogue_sample, write_dataset


def test_the_holdout_is_stratified_seeded_and_blind_to_row_order():
    """A fifth of each category (largest remainders settle the total), the same rows whatever the order."""
    table = pd.DataFrame(catalogue_sample(0, 203))
    codes, cats = table["product_code"].tolist(), table["category3_code"].tolist()
    mask = holdout_mask(codes, cats, 0.2, seed=4)
    assert mask.sum() == round(203 * 0.2)
    for _, group_mask in pd.Series(mask).groupby(table["category3_code"]):
        assert abs(group_mask.mean() - 0.2) < 0.05
    order = np.random.default_rng(0).permutation(len(codes))
    again = holdout_mask([codes[i] for i in order], [cats[i] for i in order], 0.2, seed=4)
    assert set(np.array(codes)[order][again]) == set(np.array(codes)[mask])
    assert set(np.array(codes)[holdout_mask(codes, cats, 0.2, seed=5)]) != set(np.array(codes)[mask])


def test_every_row_of_a_product_lands_on_one_side():
    """A product listed twice (two countries' rows) is held out whole or not at all."""
    codes = [1, 1, 2, 3, 3, 4, 5, 6, 7, 8]
    mask = holdout_mask(codes, ["A"] * 10, 0.5, seed=0)
    assert mask[0] == mask[1] and mask[3] == mask[4]


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, True])
def test_a_holdout_of_zero_or_one_is_refused(fraction):
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        holdout_mask([1, 2, 3], ["A", "A", "A"], fraction, seed=0)


@pytest.mark.parametrize("value", ["0", "1"])
def test_fit_holdout_zero_or_one_is_one_line_exit_2(tmp_path, capsys, value):
    real = write_dataset(tmp_path / "real", catalogue_sample(0, 30))
    with pytest.raises(SystemExit) as exc:
        run_cli(group, ["fit", str(real), "--out", str(tmp_path / "p.json"), "--holdout", value])
    err = capsys.readouterr().err
    assert (
        exc.value.code == 2 and "--holdout must be a fraction" in err and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "p.json").exists()


def test_the_profile_records_the_holdout_and_compare_finds_it(tmp_path):
    """The fit never sees the held-out rows; the profile names them; find_holdout recovers both sides."""
    table = pd.DataFrame(catalogue_sample(0, 120))
    result = fit_source(table, holdout=0.25, seed=1)
    record = result.profile.holdout
    held = table["product_code"][result.holdout]
    assert record["product_codes"] == sorted(held.tolist()) and record["fit_rows"] == 90
    assert record["fit_codes_sha256"] == codes_digest(table["product_code"][~result.holdout])
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "profile.json").write_text(json.dumps(result.profile.to_dict()))
    sides, why = find_holdout(table, synth)
    assert why is None and len(sides.rows) == 30 and len(sides.fit_rows) == 90
    assert set(sides.rows["product_code"]) == set(held)


def test_real_rows_other_than_the_fits_source_give_no_holdout(tmp_path):
    """Unrelated real rows, or the source with rows missing, give a reason instead of wrong figures."""
    table = pd.DataFrame(catalogue_sample(0, 120))
    result = fit_source(table, holdout=0.25, seed=1)
    synth = tmp_path / "synth"
    synth.mkdir()
    (synth / "profile.json").write_text(json.dumps(result.profile.to_dict()))
    sides, why = find_holdout(pd.DataFrame(catalogue_sample(1, 50, code_base=70_000_000)), synth)
    assert sides is None and "not the source" in why
    sides, why = find_holdout(table.iloc[5:], synth)
    assert sides is None and "differ from the source" in why
    sides, why = find_holdout(table, tmp_path)  # no profile.json: the built-in profile or a table file
    assert sides is None and "records no holdout" in why


def test_a_holdout_dir_that_shares_products_with_the_real_rows_is_refused(tmp_path):
    rows = catalogue_sample(0, 40)
    real = write_dataset(tmp_path / "real", rows[:30])
    holdout = write_dataset(tmp_path / "holdout", rows[25:])
    with pytest.raises(UserError, match="shares 5 products"):
        find_holdout(load_rows(real), tmp_path, holdout)
    clean = write_dataset(tmp_path / "clean", rows[30:])
    sides, _ = find_holdout(load_rows(real), tmp_path, clean)
    assert len(sides.fit_rows) == 30 and len(sides.rows) == 10


@pytest.mark.slow
def test_fit_synth_compare_finds_the_holdout_and_judges_privacy(tmp_path, capsys):
    """The README's path: fit with a holdout, synthesise, compare; the report judges against the holdout."""
    real = write_dataset(tmp_path / "real", catalogue_sample(0, 80))
    profile = tmp_path / "p.json"
    run_cli(group, ["fit", str(real), "--out", str(profile), "--holdout", "0.25", "--no-copies"])
    assert "20 rows of 80 held out" in capsys.readouterr().out
    synth = tmp_path / "synth"
    run_cli(group, ["synth", "--profile", str(profile), "--rows", "60", "--image-size", "32", "--out",
                    str(synth), "--workers", "1", "--quiet"])  # fmt: skip
    report = tmp_path / "cmp" / "fidelity.html"
    run_cli(group, ["compare", str(real), str(synth), "--report", str(report), "--images", "2"])
    out = capsys.readouterr().out
    assert "no source row or title reproduced" in out or "Not fit for sharing" in out
    data = json.loads(report.with_suffix(".json").read_text())
    assert data["privacy"]["holdout"]["rows"] == 20 and data["privacy"]["holdout"]["fit_rows"] == 60
    assert data["promise"]["kept"] and data["privacy"]["copies"]["titles"]["synth"] == 0.0
    assert set(data["utility"]["tasks"]) == {"category_from_title", "price_from_category_and_title",
                                             "category_from_image"}  # fmt: skip
    assert {"table", "titles", "images"} <= set(data["detection"])
    html = report.read_text()
    assert 'id="privacy-utility"' in html and "rendered products are not photographs" in html
    with pytest.raises(SystemExit) as exc:
        run_cli(group, ["compare", str(real), str(synth), "--report", str(tmp_path / "x.html"),
                        "--holdout", str(real)])  # fmt: skip
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "shares 80 products" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()
