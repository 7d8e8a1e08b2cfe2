"""Fixtures for datagen tests: valid rows, tiny images, a tiny hand-written DATASET dir."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from contracts.dataset import layout
from contracts.dataset.writer import DatasetWriter


def make_row(code: int = 80123456, **overrides) -> dict:
    """A valid DBQ row (prices as floats) with ``overrides`` applied."""
    row = {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "category1_code": "WOMAN",
        "category2_code": "OUTERWEAR",
        "category3_code": "TRENCH COATS",
        "product_code": code,
        "title": f"Long Kensington Heritage Trench Coat {code}",
        "itemurl": f"https://us.burberry.com/long-kensington-heritage-trench-coat-p{code}",
        "imageurl": "https://assets.burberry.com/is/image/Burberryltd/0b3c",
        "full_price": 2490.0,
        "price": 2490.0,
        "full_price_eur": 2297.03,
        "price_eur": 2297.03,
        "flg_discount": 0,
    }
    row.update(overrides)
    return row


def jpeg_bytes(color: tuple[int, int, int] = (200, 180, 150), size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def write_small_dataset(out, n: int = 12, overwrite: bool = False):
    """A hand-made DATASET dir of ``n`` rows spread over the three splits."""
    with DatasetWriter(out, overwrite=overwrite) as writer:
        for i in range(n):
            split = layout.SPLITS[i % 3] if i < 3 else "train"
            writer.add(split, make_row(30000000 + i * 7, full_price=1290.0, price=1290.0), jpeg_bytes())
        writer.finish({"generator": "datagen synth", "version": "0.1.0", "rows": n}, "# card\n")
    return out


@pytest.fixture
def small_dataset(tmp_path):
    return write_small_dataset(tmp_path / "data")


@pytest.fixture(name="make_row")
def make_row_fixture():
    """The ``make_row`` factory (test modules cannot import conftest)."""
    return make_row


@pytest.fixture(name="jpeg_bytes")
def jpeg_bytes_fixture():
    return jpeg_bytes


@pytest.fixture(name="write_small_dataset")
def write_small_dataset_fixture():
    return write_small_dataset


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory):
    """A 40-row synthetic dataset at 64 px (seed 0, one process), shared by the tests that only read it."""
    from datagen.config import SynthConfig
    from datagen.synth.run import synthesize

    out = tmp_path_factory.mktemp("synth") / "data"
    return synthesize(SynthConfig(out=str(out), rows=40, image_size=64, seed=0, workers=1, quiet=True))


def tree_bytes(root) -> dict[str, bytes]:
    """Every file under ``root`` as {relative path: bytes}."""
    from pathlib import Path

    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(name="tree_bytes")
def tree_bytes_fixture():
    return tree_bytes
