"""Fixtures of the finetune tests: small DATASET dirs written by the test itself."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from contracts.dataset.writer import DatasetWriter

_CATEGORIES = [
    ("WOMAN", "OUTERWEAR", "TRENCH COATS"),
    ("MAN", "BAGS", "CROSSBODY"),
    ("KIDS", "SHOES", "SNEAKERS"),
]
_TITLES = [
    "Check Cashmere Scarf",
    "Mini Frances Bag",
    "House Check Sneakers",
    "EKD Wool Cape",
    "Nylon Jacket",
]


def product_row(i: int) -> dict:
    """A schema-valid row whose content depends only on ``i``."""
    cat1, cat2, cat3 = _CATEGORIES[i % len(_CATEGORIES)]
    title = _TITLES[i % len(_TITLES)] + ("" if i % 2 else " in Wool")
    code = 30_000_000 + i
    price = float(100 + 37 * (i % 11))
    return {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "category1_code": cat1,
        "category2_code": cat2,
        "category3_code": cat3,
        "product_code": code,
        "title": title,
        "itemurl": f"https://us.burberry.com/x-p{code}",
        "imageurl": "N.A.",
        "full_price": price,
        "price": price,
        "full_price_eur": round(price * 0.9225, 2),
        "price_eur": round(price * 0.9225, 2),
        "flg_discount": 0,
    }


def write_dataset(root: Path, counts: dict[str, int], image_size: int = 48) -> Path:
    """A DATASET dir through datagen's writer: split folders with metadata and small JPEGs."""
    index = 0
    with DatasetWriter(root) as writer:
        for split, n in counts.items():
            for _ in range(n):
                colour = ((index * 53) % 256, (index * 97) % 256, (index * 31) % 256)
                img = Image.new("RGB", (image_size, image_size + 8 * (index % 3)), colour)
                buf = io.BytesIO()
                img.save(buf, format="JPEG")
                writer.add(split, product_row(index), buf.getvalue())
                index += 1
        writer.finish({"generator": "tests", "seed": 0}, "# test dataset\n")
    return root


@pytest.fixture
def handmade_dataset(tmp_path: Path) -> Path:
    """12 train, 4 validation, 4 test rows with 48-px images."""
    return write_dataset(tmp_path / "data", {"train": 12, "validation": 4, "test": 4})


@pytest.fixture
def fast_config(tmp_path: Path, handmade_dataset: Path):
    """Factory of TrainConfigs for quick runs on the handmade dataset (no W&B, no bar, no generation)."""
    from finetune.config import TrainConfig

    def make(out: str = "run", **changes) -> TrainConfig:
        values = {
            "data": str(handmade_dataset),
            "out": str(tmp_path / out),
            "max_steps": 4,
            "batch_size": 4,
            "log_every": 1,
            "warmup_steps": 0,
            "wandb": "off",
            "quiet": True,
            "sample_predictions": 0,
            "eval_rows": 0,
            "num_crops": 1,
            "dropout": 0.0,  # dropout masks depend on the batch shape: equivalence tests compare exactly
            "method": "full",
            "threads": 1,  # exact comparisons need the same float order: auto threads follow the load
            "lr": 1e-3,
            "vision_lr_ratio": 0.1,
        }
        values |= changes
        if (
            values.get("model", "tiny") == "tiny"
            and values.get("method") == "full"
            and not values.get("freeze_vision")
        ):
            values.setdefault("encoder_warmup", 2)  # the path runs in every tiny test, briefly
        return TrainConfig(**values)

    return make
