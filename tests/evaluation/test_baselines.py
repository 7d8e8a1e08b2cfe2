"""Baselines answer in the model's format and do what their names say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from contracts.dataset import layout
from contracts.dataset.reader import load_image, read_latents, read_split
from contracts.errors import UserError
from contracts.image_features import FEATURE_DIM, embed_image, embed_images
from contracts.task import parse_answer
from evaluation import baselines as bl


def _frame(rows):
    return pd.DataFrame(rows, columns=["title", "category3_code", "full_price", "product_code"])


def test_majority_hand_computed():
    """Most frequent category, its most frequent title, the median price of all training rows."""
    # Setup
    train = _frame(
        [
            ("Scarf A", "SCARVES", 100.0, 1),
            ("Scarf B", "SCARVES", 300.0, 2),
            ("Scarf B", "SCARVES", 200.0, 3),
            ("Coat", "COATS", 1000.0, 4),
        ]
    )
    # Run
    answers = bl.majority_answers(train, 2)
    # Assert
    assert answers == ["Product: Scarf B, Category: SCARVES, Full Price: 250.0"] * 2


def test_nearest_copies_the_closest_training_answer():
    """An evaluation image identical to a training image gets that item's answer."""
    # Setup
    colours = [(200, 20, 20), (20, 200, 20), (20, 20, 200)]
    train = _frame([("Red", "R", 10.0, 1), ("Green", "G", 20.0, 2), ("Blue", "B", 30.0, 3)])
    x = np.stack([embed_image(Image.new("RGB", (32, 32), c)) for c in colours])
    # Run
    answers = bl.nearest_answers(train, x, x[[2, 0]])
    # Assert
    assert [parse_answer(a).title for a in answers] == ["Blue", "Red"]


@pytest.mark.slow
def test_probe_learns_colour_coded_categories(eval_dataset):
    """On a dataset whose categories differ by colour, the probe gets most categories right."""
    # Setup
    train, test = read_split(eval_dataset, "train"), read_split(eval_dataset, "test")
    x_train = embed_images(list(train["image_path"]), load_image)
    x_test = embed_images(list(test["image_path"]), load_image)
    # Run
    answers = bl.probe_answers(train, x_train, x_test, seed=0)
    # Assert
    parsed = [parse_answer(a) for a in answers]
    hits = sum(p.category3_code == c for p, c in zip(parsed, test["category3_code"], strict=True))
    assert hits >= 0.75 * len(test)
    assert all(p.full_price is not None and p.full_price > 0 for p in parsed)
    assert x_train.shape == (len(train), FEATURE_DIM)


def test_oracle_answers_from_latents(eval_dataset):
    """The oracle answers what the generator recorded beside each row's latent attributes."""
    test = read_split(eval_dataset, "test")
    latents = read_latents(eval_dataset)
    # Run
    answers = bl.oracle_answers(test, latents)
    # Assert
    assert [parse_answer(a).category3_code for a in answers] == list(test["category3_code"])
    missing = bl.oracle_answers(test.assign(product_code=1), latents)
    assert missing == [""] * len(test)
    with pytest.raises(UserError, match="regenerate the dataset"):
        bl.oracle_answers(test, latents.drop(columns=[layout.ORACLE_KEY]))


def test_baselines_need_a_train_split():
    """An empty training split is a user error, not a crash."""
    with pytest.raises(UserError, match="train split"):
        bl.majority_answers(_frame([]), 3)


def test_check_names():
    """'all' expands, duplicates collapse, unknown names are user errors."""
    assert bl.check_names(["probe", "all"]) == ["probe", "majority", "nearest", "oracle"]
    with pytest.raises(UserError, match="unknown baseline"):
        bl.check_names(["magic"])


def test_features_are_deterministic_and_sized():
    """The same image gives the same vector; different colours give different vectors."""
    a = embed_image(Image.new("RGB", (40, 30), (10, 200, 30)))
    b = embed_image(Image.new("RGB", (40, 30), (10, 200, 30)))
    c = embed_image(Image.new("RGB", (40, 30), (200, 10, 30)))
    assert a.shape == (FEATURE_DIM,) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
