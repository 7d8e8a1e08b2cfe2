"""A 3,040-row metadata-only sample (no rendering) matches the real US table's statistics (mission.md)."""

import re
from collections import Counter

import pandas as pd
import pytest

from datagen.catalogue.profile import builtin_profile
from datagen.synth.price_model import snap_price
from datagen.synth.sample import build_row, plan_rows, sample_latent


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    profile = builtin_profile()
    plan = plan_rows(profile, 0, 3040)
    return pd.DataFrame(
        [build_row(sample_latent(profile, 0, i, plan.attempts[i]), profile) for i in range(3040)]
    )


def test_constant_columns_and_discount_free_prices(frame):
    """One value per constant column; price == full_price; EUR = price x 0.9225 to the cent; no discount."""
    expected = {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "flg_discount": 0,
    }
    for col, value in expected.items():
        assert frame[col].unique().tolist() == [value]
    assert (frame["price"] == frame["full_price"]).all() and (
        frame["price_eur"] == frame["full_price_eur"]
    ).all()
    assert ((frame["full_price"] * 0.9225 - frame["full_price_eur"]).abs() <= 0.005 + 1e-9).all()


def test_categories_like_the_real_taxonomy(frame):
    """3 category1, 26 category2, more than 30 category3 of 3-28 chars with N.A.; no category dominates."""
    assert set(frame["category1_code"]) == {"WOMAN", "MAN", "KIDS"}
    assert frame["category2_code"].nunique() == 26
    cat3 = frame["category3_code"]
    assert cat3.nunique() > 30 and "N.A." in set(cat3)
    assert cat3.str.len().min() == 3 and cat3.str.len().max() == 28
    for name in (
        "OUTERWEAR",
        "BAGS",
        "SHOES",
        "ACCESSORIES",
        "CASHMERE SCARVES",
        "KNITWEAR",
        "DRESSES",
        "BEAUTY",
    ):
        assert name in set(frame["category2_code"])
    for name in (
        "TRENCH COATS",
        "QUILTED JACKETS",
        "PONCHOS & CAPES",
        "CROSSBODY",
        "SHOULDER",
        "SNEAKERS",
        "HATS & GLOVES",
        "WALLETS & CARD CASES",
    ):
        assert name in set(cat3)
    # N.A. stands where a category2 has no subcategory: such a category2 has no other category3
    with_na = set(frame.loc[cat3 == "N.A.", "category2_code"])
    assert with_na and (frame.loc[frame["category2_code"].isin(with_na), "category3_code"] == "N.A.").all()
    shares = frame["category1_code"].value_counts(normalize=True)
    assert shares["WOMAN"] > shares["MAN"] > shares["KIDS"] > 0.08
    assert cat3.value_counts(normalize=True).drop("N.A.").max() < 0.12


def test_codes_titles_and_urls(frame):
    """Unique codes in range; titles 8-71 chars, nearly all unique; URL lengths and forms as in real data."""
    codes = frame["product_code"]
    assert codes.is_unique and codes.between(26_000_000, 80_900_000).all()
    assert codes.min() < 27_000_000 and codes.max() > 80_000_000
    titles = frame["title"]
    assert titles.str.len().between(8, 71).all() and titles.nunique() / len(titles) >= 0.95
    assert frame["itemurl"].str.len().between(42, 105).all()
    assert frame["itemurl"].str.fullmatch(r"https://us\.burberry\.com/[a-z0-9-]+-p\d{8}").all()
    assert not frame["itemurl"].str.contains("-and-").any()
    img = frame["imageurl"]
    placeholders = (img == "N.A.").sum()
    assert 1 <= placeholders <= 30
    assert img.str.len().between(4, 89).all()
    # the real catalogue's image ids are version-4 UUIDs in upper case
    uuid4 = r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}"
    pattern = re.compile(r"https://assets\.burberry\.com/is/image/Burberryltd/" + uuid4)
    assert img[img != "N.A."].map(lambda u: bool(pattern.fullmatch(u))).all()


def test_prices_have_range_shapes_and_price_points(frame):
    """USD 32-70,000 on retail price points; category levels differ (bags > shoes > small goods > beauty)."""
    price = frame["full_price"]
    assert price.min() >= 32 and price.max() <= 70_000
    assert price.min() < 60 and price.max() > 10_000
    assert (price.map(snap_price) == price).all()
    med = frame.groupby("category3_code")["full_price"].median()
    assert (
        med["TRENCH COATS"]
        > med["SHOULDER"]
        > med["SNEAKERS"]
        > med["WALLETS & CARD CASES"]
        > med["FRAGRANCES"]
    )
    # log-normal-ish within a category: spread, right skew
    trench = price[frame["category3_code"] == "TRENCH COATS"]
    assert trench.quantile(0.9) / trench.quantile(0.1) > 1.5 and trench.mean() > trench.median()
    assert Counter(price).most_common(1)[0][1] < 0.1 * len(price)
