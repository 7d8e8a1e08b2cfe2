"""Rendering: every silhouette draws, bytes are deterministic, visible cues differ."""

import numpy as np
import pytest

from datagen.catalogue.profile import builtin_profile
from datagen.catalogue.shapes import SILHOUETTES
from datagen.render.product import encode_jpeg, render_product
from datagen.synth.sample import sample_latent


@pytest.fixture(scope="module")
def profile():
    return builtin_profile()


def _latent(profile, silhouette, **attrs):
    entry = next(i for i, e in enumerate(profile.taxonomy) if e.silhouette == silhouette)
    base = sample_latent(profile, 0, 0)
    opts = profile.taxonomy[entry].options
    chosen = {k: next(iter(opts[k])) for k in opts}
    material = attrs.get("material", chosen["material"])
    colour = profile.vocabulary["materials"][material]["colours"][0]
    pose = {"rotation": 0.0, "scale": 1.0, "dx": 0.0, "dy": 0.0, "background": 0, "light": 1.0, "seed": 1}
    return {
        **base,
        "entry": entry,
        "silhouette": silhouette,
        **chosen,
        "colour": colour,
        "pose": pose,
        **attrs,
    }


def _object_area(img) -> float:
    """Fraction of pixels far from the backdrop colour (the object and its shadow)."""
    a = np.asarray(img, dtype=np.int16)
    corner = a[:4, :4].reshape(-1, 3).mean(0)
    return float((np.abs(a - corner).sum(-1) > 60).mean())


@pytest.mark.parametrize("silhouette", SILHOUETTES)
def test_every_silhouette_renders_deterministically(profile, silhouette):
    """Each silhouette draws an object at 64 px, and the same latent gives the same JPEG bytes."""
    latent = _latent(profile, silhouette)
    img = render_product(latent, profile, 64)
    assert img.size == (64, 64) and img.mode == "RGB"
    assert _object_area(img) > 0.02
    assert encode_jpeg(img) == encode_jpeg(render_product(latent, profile, 64))


def test_size_words_are_visible_as_scale_and_length(profile):
    """Mini < Large bags and Short < Long coats in drawn area, beyond pose jitter."""
    mini = _object_area(render_product(_latent(profile, "shoulder_bag", size="Mini"), profile, 96))
    large = _object_area(render_product(_latent(profile, "shoulder_bag", size="Large"), profile, 96))
    assert large > 2.5 * mini
    short = _object_area(render_product(_latent(profile, "trench", size="Short"), profile, 96))
    long_ = _object_area(render_product(_latent(profile, "trench", size="Long"), profile, 96))
    assert long_ > 1.3 * short


def test_pattern_line_and_detail_change_the_image(profile):
    """Pattern, line emblem, detail and trim each change the pixels."""
    base = _latent(profile, "shoulder_bag", pattern="", line="", detail="", trim="", size="Large")
    ref = np.asarray(render_product(base, profile, 96), dtype=np.int16)
    for change in ({"pattern": "Check"}, {"line": "Lola"}, {"detail": "Quilted"}, {"detail": "Studded"},
                   {"trim": "Leather"}, {"pattern": "Monogram"}):  # fmt: skip
        other = np.asarray(render_product({**base, **change}, profile, 96), dtype=np.int16)
        assert np.abs(other - ref).sum(-1).mean() > 2.0, change
