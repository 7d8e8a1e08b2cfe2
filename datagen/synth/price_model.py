"""Prices: a function of visible attributes, times bounded noise, snapped to retail price points.

Within a taxonomy entry, each visible attribute carries a price multiplier (material, size, line, pattern,
trim, detail). Their log-sum ``S`` is standardised over the entry's own option weights,
``z = (S - mean) / sd``, and

    expected = clip(median * exp(sigma * z), [min, max])        (the entry's log-normal shape)
    full_price = snap(clip(expected * U(1 - noise, 1 + noise)))

so the entry's median/sigma/min/max (what ``datagen fit`` estimates from real data) set the distribution,
while the attributes, all visible in the image, set each row's place in it. ``expected_price`` is noise-free
and the oracle snaps it the same way, so the ceiling of an image-to-price model is known.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from datagen.catalogue.profile import OPTION_KINDS, OPTION_SECTIONS, CatalogueProfile, TaxonomyEntry


def _log_mult(profile: CatalogueProfile, kind: str, name: str) -> float:
    if not name:
        return 0.0
    return math.log(profile.vocabulary[OPTION_SECTIONS[kind]][name]["price_mult"])


_STATS: dict[str, list[tuple[float, float]]] = {}


def _entry_stats(profile: CatalogueProfile, index: int) -> tuple[float, float]:
    """Mean and sd of the attribute log-multiplier sum under the entry's option weights (cached)."""
    stats = _STATS.get(profile.fingerprint)
    if stats is None:
        stats = []
        for entry in profile.taxonomy:
            mean = var = 0.0
            for kind in OPTION_KINDS:
                opts = entry.options[kind]
                total = sum(opts.values())
                logs = [(w / total, _log_mult(profile, kind, name)) for name, w in opts.items()]
                m = sum(p * x for p, x in logs)
                mean += m
                var += sum(p * (x - m) ** 2 for p, x in logs)
            stats.append((mean, math.sqrt(var)))
        _STATS[profile.fingerprint] = stats
    return stats[index]


def price_score(attrs: Mapping[str, str], entry_index: int, profile: CatalogueProfile) -> float:
    """The standardised visible-attribute score ``z`` of a row within its entry."""
    mean, sd = _entry_stats(profile, entry_index)
    if sd == 0:
        return 0.0
    s = sum(_log_mult(profile, kind, attrs[kind]) for kind in OPTION_KINDS)
    return (s - mean) / sd


def _clip(price: float, entry: TaxonomyEntry, profile: CatalogueProfile) -> float:
    lo = max(entry.price.min, profile.price_min)
    hi = min(entry.price.max, profile.price_max)
    return min(max(price, lo), hi)


def expected_price(latent: Mapping, profile: CatalogueProfile | None = None) -> float:
    """Noise-free price of a latent row (unsnapped): the entry's median moved by the visible attributes."""
    if profile is None:
        from datagen.catalogue.profile import builtin_profile

        profile = builtin_profile()
    entry = profile.taxonomy[latent["entry"]]
    z = price_score(latent, latent["entry"], profile)
    return _clip(entry.price.median * math.exp(entry.price.sigma * z), entry, profile)


def snap_price(price: float) -> float:
    """Nearest retail price point: under 100 ends in 0/2/5/8; under 500 any 10; under 1,000 ends in 20/50/90;
    under 10,000 in 50/90; above, 500s."""
    if price < 100:
        base = math.floor(price / 10) * 10
        points = [base + d for d in (-2, 0, 2, 5, 8, 10)]
    elif price < 495:
        return float(round(price / 10) * 10)
    elif price < 1000:
        base = math.floor(price / 100) * 100
        points = [base - 10, base + 20, base + 50, base + 90]
    elif price < 10000:
        base = math.floor(price / 100) * 100
        points = [base - 10, base + 50, base + 90]
    else:
        return float(round(price / 500) * 500)
    return float(min(points, key=lambda p: (abs(p - price), p)))


def full_price(latent: Mapping, profile: CatalogueProfile) -> float:
    """The row's full price: expected price times its bounded noise, clipped and snapped."""
    entry = profile.taxonomy[latent["entry"]]
    noisy = expected_price(latent, profile) * (1.0 + profile.price_noise * latent["price_noise"])
    price = snap_price(_clip(noisy, entry, profile))
    return min(max(price, profile.price_min), profile.price_max)


def oracle_price(latent: Mapping, profile: CatalogueProfile) -> float:
    """The best noise-free guess: the expected price snapped the same way."""
    price = snap_price(expected_price(latent, profile))
    return min(max(price, profile.price_min), profile.price_max)


def to_eur(price: float, rate: float) -> float:
    """``round(price * rate, 2)`` with half-up rounding on the decimal values (2490 * 0.9225 -> 2297.03)."""
    value = Decimal(repr(float(price))) * Decimal(repr(float(rate)))
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
