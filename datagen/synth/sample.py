"""Sampling rows: latent attributes per row from ``np.random.default_rng([seed, row_index])`` (pure).

A row's latent is a function of (profile, seed, row index, attempts) only, so any worker or shard can rebuild
it. ``plan_rows`` (``datagen.synth.plan``) decides ``attempts`` for every row: it redraws a row's attributes
(same category, same stream) up to ``MAX_ATTEMPTS`` times while its title is out of the 8-71 character range
or already taken (by an earlier row, or by the source of a fitted profile: see
``CatalogueProfile.is_source_title``; never kept at all under ``fit --no-copies``). Splits are then computed
from all rows' (product_code, category3) and rows can be rendered in any order, anywhere.

Product codes come from a keyed Feistel permutation of the row index over the profile's code range, so they
are unique without any global bookkeeping.
"""

from __future__ import annotations

import bisect
import itertools
import math
import zlib
from dataclasses import dataclass

import numpy as np

from datagen.catalogue.profile import OPTION_KINDS, CatalogueProfile
from datagen.synth.price_model import full_price, to_eur
from datagen.synth.titles import build_title
from datagen.synth.urls import image_id, image_url, item_url

TITLE_MIN, TITLE_MAX = 8, 71
MAX_ATTEMPTS = 4
ROTATION_DEG = 5.0
SCALE_JITTER = 0.04
OFFSET = 0.6
N_BACKGROUNDS = 8
LIGHT_LEVELS = (0.9, 0.95, 1.0, 1.04, 1.08)  # backdrop lighting, a few levels so backdrops can be cached


# --- product codes
def _mix64(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _mix64_array(x: np.ndarray) -> np.ndarray:
    """``_mix64`` of every element of a uint64 array (numpy wraps around at 2**64 as the masks do)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def product_codes(indices: np.ndarray, seed: int, lo: int, hi: int) -> np.ndarray:
    """``product_code`` of many indices at once (int64 array)."""
    domain = hi - lo + 1
    x = np.asarray(indices, dtype=np.uint64)
    if len(x) and int(x.max()) >= domain:
        raise ValueError(f"row index {int(x.max())} outside a code range of {domain}")
    half = np.uint64(max(1, math.ceil(math.log2(domain) / 2)))
    mask = np.uint64((1 << int(half)) - 1)
    keys = [np.uint64(_mix64((seed & 0xFFFFFFFF) * 8 + r + 1)) for r in range(4)]
    out = x.copy()
    todo = np.arange(len(x))
    while len(todo):  # cycle-walk the values still outside the domain
        v = out[todo]
        left, right = v >> half, v & mask
        for key in keys:
            left, right = right, left ^ (_mix64_array(right ^ key) & mask)
        v = (left << half) | right
        out[todo] = v
        todo = todo[v >= np.uint64(domain)]
    return out.astype(np.int64) + lo


def product_code(index: int, seed: int, lo: int, hi: int) -> int:
    """The ``index``-th code of a seeded permutation of [lo, hi]: unique per index, no state needed."""
    domain = hi - lo + 1
    if not 0 <= index < domain:
        raise ValueError(f"row index {index} outside a code range of {domain}")
    half = max(1, math.ceil(math.log2(domain) / 2))
    mask = (1 << half) - 1
    keys = [_mix64((seed & 0xFFFFFFFF) * 8 + r + 1) for r in range(4)]
    x = index
    while True:  # cycle-walk until the permuted value falls inside the domain
        left, right = x >> half, x & mask
        for key in keys:
            left, right = right, left ^ (_mix64(right ^ key) & mask)
        x = (left << half) | right
        if x < domain:
            return lo + x


# --- compiled profile
@dataclass
class _Options:
    names: list[str]
    cum: list[float]  # cumulative weights normalised to end at 1

    def position(self, u: float) -> int:
        return min(bisect.bisect_right(self.cum, u), len(self.names) - 1)

    def pick(self, u: float) -> str:
        return self.names[self.position(u)]


def _options(weights: dict[str, float]) -> _Options:
    names = [n for n, w in weights.items() if w > 0]
    total = sum(weights[n] for n in names)
    return _Options(names, list(itertools.accumulate(weights[n] / total for n in names)))


class CompiledProfile:
    """Lookup tables for fast sampling (cumulative weights per entry and option)."""

    def __init__(self, profile: CatalogueProfile) -> None:
        self.profile = profile
        self.entries = _options({str(i): e.weight for i, e in enumerate(profile.taxonomy)})
        self.options = [{k: _options(e.options[k]) for k in OPTION_KINDS} for e in profile.taxonomy]
        self.colours = {
            m: _options(dict.fromkeys(v["colours"], 1.0)) for m, v in profile.vocabulary["materials"].items()
        }


_COMPILED: dict[str, CompiledProfile] = {}


def compiled(profile: CatalogueProfile) -> CompiledProfile:
    cp = _COMPILED.get(profile.fingerprint)
    if cp is None:
        cp = _COMPILED[profile.fingerprint] = CompiledProfile(profile)
    return cp


# --- one row
def _draw(cp: CompiledProfile, entry_index: int, u: np.ndarray) -> dict[str, str]:
    """One attribute draw from the uniforms ``u`` (one per option kind, then the colour)."""
    opts = cp.options[entry_index]
    positions = [opts[kind].position(float(u[i])) for i, kind in enumerate(OPTION_KINDS)]
    material = opts["material"].names[positions[OPTION_KINDS.index("material")]]
    return attrs_at(cp, entry_index, positions, cp.colours[material].position(float(u[len(OPTION_KINDS)])))


def attrs_at(cp: CompiledProfile, entry_index: int, positions: list[int], colour: int) -> dict[str, str]:
    """The attributes a draw picked, given each option's position in its entry's list and the colour's in
    the material's (``_draw``, and the plan's vectorised picks)."""
    opts = cp.options[entry_index]
    attrs = {kind: opts[kind].names[positions[i]] for i, kind in enumerate(OPTION_KINDS)}
    if attrs["trim"] and attrs["trim"] == attrs["material"]:
        attrs["trim"] = ""  # "Leather and Leather" is just leather
    attrs["colour"] = cp.colours[attrs["material"]].names[colour]
    if attrs["pattern"]:
        # a pattern with its own colour (House Check: archive beige) shows that colour, not the material's
        attrs["colour"] = cp.profile.vocabulary["patterns"][attrs["pattern"]].get("colour", attrs["colour"])
    return attrs


def _title_ok(title: str, seen: set[str] | None) -> bool:
    return TITLE_MIN <= len(title) <= TITLE_MAX and (seen is None or title not in seen)


def _draws(cp: CompiledProfile, seed: int, index: int, rng: np.random.Generator | None = None):
    """The row's random stream (``rng``: the row's generator made elsewhere, from its start): the generator,
    the entry index, and an iterator of attribute draws."""
    rng = np.random.default_rng([seed, index]) if rng is None else rng
    entry_index = int(cp.entries.pick(float(rng.random())))

    def attempts():
        while True:
            yield _draw(cp, entry_index, rng.random(len(OPTION_KINDS) + 1))

    return rng, entry_index, attempts()


def sample_latents(profile: CatalogueProfile, seed: int, start: int, attempts: list[int]) -> list[dict]:
    """``sample_latent`` of rows ``start``, ``start + 1``, ..., their generators seeded together
    (``streams.Streams``: the same streams, without numpy's ~15 us a generator)."""
    from datagen.synth.streams import Streams

    streams = Streams(seed, np.arange(start, start + len(attempts), dtype=np.int64))
    shared = np.random.PCG64(0)  # set to each row's state in turn
    return [
        sample_latent(profile, seed, start + j, a, rng=streams.generator(j, shared))
        for j, a in enumerate(attempts)
    ]


def sample_latent(
    profile: CatalogueProfile,
    seed: int,
    index: int,
    attempts: int = 1,
    rng: np.random.Generator | None = None,
) -> dict:
    """The latent attributes of row ``index`` after ``attempts`` attribute draws (see ``plan_rows``);
    ``rng``: the row's generator ``default_rng([seed, index])``, made elsewhere."""
    cp = compiled(profile)
    rng, entry_index, draws = _draws(cp, seed, index, rng)
    attrs = next(itertools.islice(draws, attempts - 1, None))
    entry = profile.taxonomy[entry_index]
    t = rng.random(8)
    raw_id = rng.bytes(16)
    placeholder = bool(t[1] < profile.image_url_placeholder_rate)
    return {
        "product_code": product_code(index, seed, profile.product_code_min, profile.product_code_max),
        "row": index,
        "entry": entry_index,
        "category1_code": entry.category1,
        "category2_code": entry.category2,
        "category3_code": entry.category3,
        "silhouette": entry.silhouette,
        "noun": entry.noun,
        **attrs,
        "price_noise": round(float(2 * t[0] - 1), 6),
        "image_id": "" if placeholder else image_id(raw_id),
        "pose": {
            "rotation": round(float((2 * t[2] - 1) * ROTATION_DEG), 3),
            "scale": round(float(1 - SCALE_JITTER + 2 * SCALE_JITTER * t[3]), 4),
            "dx": round(float((2 * t[4] - 1) * OFFSET), 4),
            "dy": round(float((2 * t[5] - 1) * OFFSET), 4),
            "background": int(t[6] * N_BACKGROUNDS),
            "light": LIGHT_LEVELS[int(t[7] * len(LIGHT_LEVELS))],
            "seed": zlib.crc32(raw_id),
        },
    }


def title_of(latent: dict, profile: CatalogueProfile) -> str:
    return build_title(latent, profile.taxonomy[latent["entry"]], profile)


def build_row(latent: dict, profile: CatalogueProfile) -> dict:
    """The 17 DBQ columns of a row, derived from its latent alone."""
    title = title_of(latent, profile)
    price = full_price(latent, profile)
    eur = to_eur(price, profile.eur_rate)
    code = latent["product_code"]
    return {
        "website_name": profile.website_name,
        "competence_date": profile.competence_date,
        "country_code": profile.country_code,
        "currency_code": profile.currency_code,
        "brand": profile.brand,
        "category1_code": latent["category1_code"],
        "category2_code": latent["category2_code"],
        "category3_code": latent["category3_code"],
        "product_code": code,
        "title": title,
        "itemurl": item_url(profile.item_url_prefix, title, code),
        "imageurl": image_url(profile.image_url_prefix, latent["image_id"], profile.image_url_placeholder),
        "full_price": price,
        "price": price,
        "full_price_eur": eur,
        "price_eur": eur,
        "flg_discount": 0,
    }


# --- all rows
def plan_rows(profile: CatalogueProfile, seed: int, rows: int, map_chunks=None):  # -> plan.RowPlan
    """See ``datagen.synth.plan.plan_rows`` (here for the callers that sample rows)."""
    from datagen.synth.plan import plan_rows as plan

    return plan(profile, seed, rows, map_chunks)
