"""The oracle: answers from a row's latent attributes alone, i.e. the ceiling an image model can reach.

``oracle_answer`` reproduces the title and category exactly (both are functions of visible attributes) and
predicts the noise-free expected price snapped to a price point, so its price error is what the bounded
noise and the snapping leave. ``datagen synth`` writes it beside each row's latent attributes
(``latents.jsonl``), where the evaluation's oracle baseline reads it.
"""

from __future__ import annotations

from collections.abc import Mapping

from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.synth.price_model import oracle_price
from datagen.synth.titles import build_title


def oracle_answer(latent: Mapping, profile: CatalogueProfile | None = None) -> dict:
    """``{"title", "category3_code", "full_price"}`` from the latent attributes alone.

    Args:
        latent: one record of ``latents.jsonl`` (or ``datagen.synth.sample.sample_latent``).
        profile: the profile the row was drawn from (the dataset's ``profile.json``); default built-in US.
    """
    profile = profile or builtin_profile()
    entry = profile.taxonomy[latent["entry"]]
    return {
        "title": build_title(latent, entry, profile),
        "category3_code": latent["category3_code"],
        "full_price": oracle_price(latent, profile),
    }
