"""Fixtures for evaluation tests: a small hand-made DATASET dir whose categories differ by colour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from contracts.dataset import layout
from contracts.dataset.writer import DatasetWriter

# category3 -> (category2, base colour, base price, titles)
CATEGORIES = {
    "SCARVES": ("ACCESSORIES", (190, 30, 40), 450.0, ["Check Cashmere Scarf", "Vintage Check Wool Scarf"]),
    "TRENCH COATS": ("OUTERWEAR", (200, 170, 120), 2490.0, ["Long Kensington Trench Coat", "Short Trench"]),
    "SNEAKERS": ("SHOES", (235, 235, 230), 690.0, ["House Check Cotton and Leather Sneakers"]),
    "CROSSBODY": ("BAGS", (30, 30, 35), 1890.0, ["Mini Frances Bag", "Small Lola Bag"]),
}


def make_row(code: int, category3: str, i: int, hostile: bool = False) -> dict:
    category2, _, price, titles = CATEGORIES[category3]
    title = "<script>alert(1)</script>" if hostile else titles[i % len(titles)]
    full_price = float(price + 10 * (i % 5))
    return {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "category1_code": "WOMAN",
        "category2_code": category2,
        "category3_code": category3,
        "product_code": code,
        "title": title,
        "itemurl": f"https://us.burberry.com/item-p{code}",
        "imageurl": "https://assets.burberry.com/is/image/Burberryltd/0b3c",
        "full_price": full_price,
        "price": full_price,
        "full_price_eur": round(full_price * 0.9225, 2),
        "price_eur": round(full_price * 0.9225, 2),
        "flg_discount": 0,
    }


def make_image(category3: str, i: int, size: int = 32) -> bytes:
    rng = np.random.default_rng(i)
    colour = np.array(CATEGORIES[category3][1]) + rng.integers(-12, 12, size=3)
    img = Image.new("RGB", (size, size), tuple(int(c) for c in colour.clip(0, 255)))
    ImageDraw.Draw(img).rectangle([size // 4, size // 4, size // 2, 3 * size // 4], outline=(90, 90, 90))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_eval_dataset(out, n_train: int = 40, n_test: int = 12, latents: bool = True, hostile: bool = True):
    """A DATASET dir: ``n_train`` train, ``n_test`` test and 4 validation rows; categories colour-coded.

    With ``hostile``, the first test row's title is ``<script>alert(1)</script>``.
    """
    cats = list(CATEGORIES)
    with DatasetWriter(out, overwrite=True) as writer:
        code = 30000000
        for split, n in (("train", n_train), ("validation", 4), ("test", n_test)):
            for i in range(n):
                code += 7
                cat = cats[i % len(cats)]
                row = make_row(code, cat, i, hostile=hostile and split == "test" and i == 0)
                writer.add(split, row, make_image(cat, code))
                if latents:
                    oracle = {"title": row["title"], "category3_code": cat, "full_price": row["full_price"]}
                    record = {"product_code": code, "colour": "red", layout.ORACLE_KEY: oracle}
                    writer.add_sidecar_record(layout.LATENTS_FILE, code, record)
        writer.finish({"generator": "tests.evaluation", "version": "0", "seed": 0}, "# test dataset\n")
    return out


@pytest.fixture(scope="session")
def eval_dataset(tmp_path_factory):
    """A small DATASET dir with latents (session-wide: tests must not modify it)."""
    return write_eval_dataset(tmp_path_factory.mktemp("eval") / "data")


@pytest.fixture(scope="session")
def eval_dataset_no_latents(tmp_path_factory):
    return write_eval_dataset(tmp_path_factory.mktemp("eval-real") / "data", latents=False)
