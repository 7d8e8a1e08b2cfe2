"""Benchmark samples: catalogue rows in the real chat format with images of the real size, encoded once.

By default the rows are made in memory: titles of 8-71 characters built like the DBQ Burberry titles,
category3 codes and prices in the real ranges, and a plain rendered product image per row (336 px square by
default, as `datagen synth` writes; other aspect ratios on request, which give other image-token counts).
Throughput depends on the token counts, not on what the pixels show. ``--data DIR`` reads a DATASET dir
(`datagen synth --out DIR`) instead.

Only the pool the benchmark runs over is encoded (HD transform of a 336-px image at 16 crops is 17 x 3 x 336
x 336 floats, 23 MB): ``rows`` fixes the catalogue the pool is drawn from, ``pool`` how many are encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from contracts.task import build_answer
from finetune.flops import SampleTokens, sample_tokens

CATALOGUE_ROWS = 3040  # the real dataset's size

_MATERIALS = [
    "Cotton",
    "Wool",
    "Cashmere",
    "Leather",
    "Nylon",
    "Silk",
    "Suede",
    "Gabardine",
    "Denim",
    "Canvas",
]
_PATTERNS = ["Check", "Vintage Check", "EKD", "Monogram", "Striped", "Quilted", "Logo", "Archive Beige", ""]
_NOUNS = [
    "Trench Coat",
    "Scarf",
    "Bucket Hat",
    "Card Case",
    "Sneakers",
    "Crossbody Bag",
    "Shirt",
    "Cape",
    "Polo Shirt",
    "Belted Jacket",
    "Tote",
    "Wallet",
]
_CATEGORIES = [
    "TRENCH COATS",
    "SCARVES",
    "HATS & GLOVES",
    "WALLETS & CARD CASES",
    "SNEAKERS",
    "CROSSBODY",
    "SHIRTS",
    "PONCHOS & CAPES",
    "POLOS",
    "QUILTED JACKETS",
    "TOTES",
    "N.A.",
]


@dataclass(frozen=True)
class Row:
    title: str
    category3_code: str
    full_price: float
    aspect: float  # width / height of the image

    @property
    def answer(self) -> str:
        return build_answer(self.title, self.category3_code, self.full_price)


def synthetic_rows(n: int, *, seed: int = 0, aspects: tuple[float, ...] = (1.0,)) -> list[Row]:
    """``n`` catalogue rows, the same for the same seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = [rng.choice(_PATTERNS), rng.choice(_MATERIALS)]
        if rng.random() < 0.4:
            words += ["and", rng.choice(_MATERIALS)]
        noun_index = int(rng.integers(len(_NOUNS)))
        title = " ".join(w for w in [*words, _NOUNS[noun_index]] if w)[:71]
        price = float(np.round(np.exp(rng.uniform(np.log(32), np.log(70_000))), -1))
        rows.append(Row(title, _CATEGORIES[noun_index], max(price, 32.0), float(rng.choice(aspects))))
    return rows


def render_image(row_index: int, aspect: float, size: int) -> Image.Image:
    """A plain product picture: the long side is ``size`` pixels, ``aspect`` = width / height."""
    width, height = (
        (size, max(1, round(size / aspect))) if aspect >= 1 else (max(1, round(size * aspect)), size)
    )
    rng = np.random.default_rng([row_index, 7])
    background = tuple(int(v) for v in rng.integers(200, 256, 3))
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    colour = tuple(int(v) for v in rng.integers(0, 200, 3))
    draw.rectangle([width // 5, height // 6, 4 * width // 5, 5 * height // 6], fill=colour)
    return image


def rows_from_dataset(data_dir: str, n: int, *, seed: int = 0) -> tuple[list[Row], list[Image.Image]]:
    """``n`` rows of the train split of a DATASET dir (sampled with ``seed``) and their images."""
    from contracts.dataset.reader import IMAGE_PATH, load_image, read_split

    frame = read_split(data_dir, "train")
    take = np.random.default_rng(seed).permutation(len(frame))[:n]
    rows, images = [], []
    for i in take:
        record = frame.iloc[int(i)]
        image = load_image(record[IMAGE_PATH])
        rows.append(
            Row(str(record["title"]), str(record["category3_code"]), float(record["full_price"]), 1.0)
        )
        images.append(image)
    return rows, images


def count_tokens(example: dict[str, torch.Tensor], crop_size: int) -> SampleTokens:
    """Text and image tokens of an encoded example, its encoded crops and its labelled next tokens."""
    return sample_tokens(
        example["input_ids"], example.get("labels"), example["image_sizes"].tolist(), crop_size
    )


def encode_pool(
    processor, rows: list[Row], images: list[Image.Image] | None, *, image_size: int, with_answer: bool = True
) -> list[dict[str, torch.Tensor]]:
    """Encode rows with the processor (HD transform, image-tag expansion, answer-only labels)."""
    out = []
    for i, row in enumerate(rows):
        image = images[i] if images is not None else render_image(i, row.aspect, image_size)
        out.append(processor.encode_example(image, row.answer if with_answer else None))
    return out
