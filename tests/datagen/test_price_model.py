"""Price model: retail price points, EUR rounding, noise bounds, oracle price."""

import pytest

from datagen.catalogue.profile import builtin_profile
from datagen.synth.price_model import expected_price, full_price, oracle_price, snap_price, to_eur
from datagen.synth.sample import sample_latent


@pytest.mark.parametrize(
    ("raw", "snapped"),
    [
        (31.2, 32.0),
        (37.0, 38.0),
        (97.0, 98.0),
        (131, 130.0),
        (486, 490.0),
        (560, 550.0),
        (602, 590.0),
        (2480, 2490.0),
        (2530, 2550.0),
        (1004, 990.0),
        (12_300, 12_500.0),
        (69_900, 70_000.0),
    ],
)
def test_snap_price_points(raw, snapped):
    """Retail points: ..0/2/5/8 under 100, tens under 500, ..20/50/90 under 1,000, ..50/90 under 10,000."""
    assert snap_price(raw) == snapped


def test_eur_is_rounded_half_up_to_cents():
    """2490 x 0.9225 = 2297.025 -> 2297.03 (decimal half-up, not binary float rounding)."""
    assert to_eur(2490.0, 0.9225) == 2297.03
    assert to_eur(32.0, 0.9225) == 29.52


def test_price_is_expected_price_within_noise():
    """The sampled price stays within the bounded noise (plus snapping) of the noise-free price."""
    profile = builtin_profile()
    for i in range(300):
        latent = sample_latent(profile, 3, i)
        exp = expected_price(latent, profile)
        price = full_price(latent, profile)
        assert abs(price / exp - 1) <= profile.price_noise + 0.08
        assert oracle_price(latent, profile) == min(max(snap_price(exp), 32.0), 70_000.0)


def test_visible_attributes_move_the_price():
    """Within a category, a dearer material or a larger size raises the expected price; noise does not."""
    profile = builtin_profile()
    latent = next(
        lat for lat in (sample_latent(profile, 0, i) for i in range(500)) if lat["silhouette"] == "tote"
    )
    cheap = {**latent, "material": "Canvas", "size": "Mini", "detail": "", "price_noise": -1.0}
    dear = {**cheap, "material": "Leather", "size": "Large"}
    assert expected_price(dear, profile) > 1.5 * expected_price(cheap, profile)
    assert expected_price({**cheap, "price_noise": 1.0}, profile) == expected_price(cheap, profile)
