"""The oracle: answers from a row's latent attributes alone, i.e. the ceiling an image model can reach.

``oracle_answer`` reproduces the title and category exactly (both are functions of visible attributes) and
predicts the noise-free expected price snapped to a price point, so its price error is what the bounded
noise and the snapping leave. ``oracle_ceiling`` scores it on a dataset with the evaluation's metrics.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path

from contracts.dataset import layout
from contracts.errors import UserError
from datagen.price_model import oracle_price
from datagen.profile import CatalogueProfile, builtin_profile
from datagen.titles import build_title


def oracle_answer(latent: Mapping, profile: CatalogueProfile | None = None) -> dict:
    """``{"title", "category3_code", "full_price"}`` from the latent attributes alone.

    Args:
        latent: one record of ``latents.jsonl`` (or ``datagen.sample.sample_latent``).
        profile: the profile the row was drawn from (the dataset's ``profile.json``); default built-in US.
    """
    profile = profile or builtin_profile()
    entry = profile.taxonomy[latent["entry"]]
    return {
        "title": build_title(latent, entry, profile),
        "category3_code": latent["category3_code"],
        "full_price": oracle_price(latent, profile),
    }


def dataset_profile(data_dir: str | Path) -> CatalogueProfile:
    """The profile stored in a synthetic DATASET dir."""
    path = Path(data_dir) / layout.PROFILE_FILE
    if not path.is_file():
        raise UserError(
            f"{data_dir} has no {layout.PROFILE_FILE}: the oracle needs a dataset made by datagen synth"
        )
    return CatalogueProfile.load(path)


def oracle_answers(data_dir: str | Path) -> dict[int, dict]:
    """product_code -> oracle answer for every row of a synthetic DATASET dir."""
    from contracts.dataset.reader import read_latents

    latents = read_latents(data_dir)
    if latents is None:
        raise UserError(
            f"{data_dir} has no {layout.LATENTS_FILE}: the oracle needs a dataset made by datagen synth"
        )
    profile = dataset_profile(data_dir)
    path = Path(data_dir) / layout.LATENTS_FILE
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        latent = json.loads(line)
        out[int(latent["product_code"])] = oracle_answer(latent, profile)
    return out


def oracle_ceiling(data_dir: str | Path, split: str | None = None) -> dict:
    """Score the oracle against the dataset's own rows: category accuracy, title score, median APE.

    Title score is rapidfuzz's ``token_sort_ratio`` (0-100), the metric the evaluation uses; APE is
    ``|predicted - true| / true`` in percent.
    """
    from rapidfuzz.fuzz import token_sort_ratio

    from contracts.dataset.reader import read_dataset

    answers = oracle_answers(data_dir)
    frames = read_dataset(data_dir, [split] if split else None)
    cat_hits, title_scores, apes = [], [], []
    for frame in frames.values():
        for code, title, cat, price in frame[
            ["product_code", "title", "category3_code", "full_price"]
        ].itertuples(index=False):
            a = answers[int(code)]
            cat_hits.append(a["category3_code"] == cat)
            title_scores.append(token_sort_ratio(a["title"], title))
            apes.append(abs(a["full_price"] - price) / price * 100)
    n = len(cat_hits)
    return {
        "rows": n,
        "category_accuracy": sum(cat_hits) / n,
        "title_token_sort_ratio_mean": sum(title_scores) / n,
        "title_exact": sum(s == 100 for s in title_scores) / n,
        "price_median_ape_pct": statistics.median(apes),
        "price_mean_ape_pct": sum(apes) / n,
        "price_exact": sum(x == 0 for x in apes) / n,
    }
