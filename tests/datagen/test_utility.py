"""Utility (train on synthetic, test on real) and detection (real against synthetic) on crafted tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datagen.fidelity import detection, utility
from datagen.fidelity.judge import judge
from tests.datagen.fixtures_real import catalogue_sample


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    train = pd.DataFrame(catalogue_sample(0, 240))
    test = pd.DataFrame(catalogue_sample(1, 160, code_base=40_000_000))
    fresh = pd.DataFrame(catalogue_sample(2, 240, code_base=50_000_000))
    scrambled = fresh.copy()  # the same rows with categories and prices dealt at random: nothing to learn
    rng = np.random.default_rng(0)
    for column in ("category1_code", "category2_code", "category3_code", "full_price"):
        scrambled[column] = scrambled[column].to_numpy()[rng.permutation(len(scrambled))]
    return {"train": train, "test": test, "fresh": fresh, "scrambled": scrambled}


def test_a_fresh_sample_teaches_as_much_as_the_real_rows(tables):
    """Synthetic rows from the same catalogue: ratios near 1 for the category and the price."""
    out = utility.utility(tables["train"], tables["test"], tables["fresh"])["tasks"]
    assert out["category_from_title"]["real"]["score"] > 0.95
    assert out["category_from_title"]["ratio"] > 0.95
    assert out["price_from_category_and_title"]["ratio"] > 0.85


def test_rows_with_scrambled_labels_teach_nothing(tables):
    """Categories and prices dealt at random: chance-level category, no price signal, ratios far below 1."""
    out = utility.utility(tables["train"], tables["test"], tables["scrambled"])["tasks"]
    assert out["category_from_title"]["ratio"] < 0.5
    assert out["price_from_category_and_title"]["synth"]["score"] < 0.2
    assert out["category_from_title"]["augmented"]["score"] < out["category_from_title"]["real"]["score"]


def test_category_from_image_learns_from_features():
    """Image features that carry the category: real- and synthetic-trained probes both find it."""
    rng = np.random.default_rng(0)
    y = np.array(["A", "B", "C"] * 40)
    centres = {"A": 0.0, "B": 3.0, "C": -3.0}
    x = np.stack([rng.normal(centres[c], 1.0, 8) for c in y])
    out = utility.category_from_image(x[:80], y[:80], x[80:], y[80:])
    assert out["score"] > 0.9


@pytest.mark.slow
def test_detection_scores_tell_alike_from_unlike(tables):
    """Two samples of one catalogue are hard to tell apart; tripled prices and other titles are easy."""
    alike = detection.table_detection(tables["train"], tables["fresh"])
    unlike_rows = tables["fresh"].copy()
    unlike_rows["full_price"] = unlike_rows["price"] = unlike_rows["full_price"] * 3
    unlike = detection.table_detection(tables["train"], unlike_rows)
    assert alike["score"] > 0.7 and unlike["score"] < 0.2
    assert detection.title_detection(tables["train"]["title"], tables["fresh"]["title"])["score"] > 0.6
    other = tables["fresh"]["title"].str.upper() + " Edition"
    assert detection.title_detection(tables["train"]["title"], other)["score"] < 0.1
    x = np.random.default_rng(0).normal(size=(60, 5))
    assert detection.image_detection(x, x + 5.0)["score"] < 0.1


def test_without_a_holdout_utility_and_detection_still_run(tables, tmp_path):
    """Unrelated tables: privacy is not judged (the reason given), utility uses a seeded real split."""
    notes: list[str] = []
    out = judge(tables["train"], tables["fresh"], tmp_path, note=notes.append)
    assert out["privacy"] is None and out["verdict"]["privacy"]["status"] == "not judged"
    assert any("privacy not judged" in n for n in notes)
    assert "seeded 80/10/10 split" in out["utility"]["test"]
    assert out["utility"]["tasks"]["category_from_title"]["ratio"] > 0.9
    assert {"table", "titles"} <= set(out["detection"])


def test_a_metric_whose_columns_are_missing_is_skipped_with_the_reason(tables, tmp_path):
    """Rows without a title: privacy, utility and table detection say which column they lack."""
    real = tables["train"].drop(columns=["title"])
    notes: list[str] = []
    out = judge(real, tables["fresh"], tmp_path, note=notes.append)
    assert out["utility"] is None and out["privacy"] is None and "table" not in out["detection"]
    assert sum("lack column(s) title" in n for n in notes) == 3
