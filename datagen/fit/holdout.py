"""Keeping part of the source out of the fit, so `datagen compare` can judge it against rows it never saw.

The holdout is drawn by product (every row of a product code on one side), stratified by ``category3_code``
so each category keeps its share on both sides, and seeded: the same rows, fraction and seed give the same
holdout whatever the row order. How many products: ``round(products x fraction)`` in all (at least one on
each side), ``floor(n x fraction)`` from each category first, the rest one by one to the categories with the
largest remainders (ties in a seeded order). Within a category, codes are sorted and shuffled with a
generator seeded by (seed, category), as the dataset split does.

``holdout_record`` is what the profile keeps: the fraction and seed, the held-out product codes, and the
number and a digest of the fitted rows' codes, so `compare` can check it holds the same source.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Iterable, Sequence

import numpy as np

from contracts.errors import UserError
from datagen.config import check_holdout_fraction


def holdout_mask(codes: Sequence[int], strata: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """True for each row held out (see the module docstring). Pure.

    Raises:
        UserError: fewer than two products (nothing to keep on one side), or a bad fraction.
    """
    check_holdout_fraction(fraction)
    stratum_of: dict[int, str] = {}
    for code, stratum in zip(codes, strata, strict=True):
        code = int(code)
        stratum_of[code] = min(stratum_of.get(code, str(stratum)), str(stratum))  # one stratum per product
    if len(stratum_of) < 2:
        raise UserError(
            f"--holdout needs at least 2 products to keep one out, the source has {len(stratum_of)}"
        )
    members: dict[str, list[int]] = {}
    for code in sorted(stratum_of):
        members.setdefault(stratum_of[code], []).append(code)
    total = len(stratum_of)
    target = min(max(1, round(total * fraction)), total - 1)
    counts = {s: math.floor(len(m) * fraction) for s, m in members.items()}
    order = sorted(members)
    priority = dict(zip(order, np.random.default_rng([seed, 0x401D]).permutation(len(order)), strict=True))
    by_remainder = sorted(
        order, key=lambda s: (-(len(members[s]) * fraction - counts[s]), -len(members[s]), priority[s])
    )
    missing = target - sum(counts.values())
    for s in by_remainder:
        if missing <= 0:
            break
        if counts[s] < len(members[s]):
            counts[s] += 1
            missing -= 1
    held: set[int] = set()
    for s, stratum_codes in members.items():
        rng = np.random.default_rng([seed, zlib.crc32(s.encode("utf-8"))])
        shuffled = [stratum_codes[i] for i in rng.permutation(len(stratum_codes))]
        held.update(shuffled[: counts[s]])
    return np.array([int(c) in held for c in codes], dtype=bool)


def codes_digest(codes: Iterable[int]) -> str:
    """sha256 of the sorted distinct product codes, one per line: identifies a set of rows."""
    text = "\n".join(str(c) for c in sorted({int(c) for c in codes}))
    return hashlib.sha256(text.encode()).hexdigest()


def holdout_record(
    fit_codes: Sequence[int], held_codes: Sequence[int], fraction: float, seed: int, source: str
) -> dict:
    """The profile's ``holdout`` key: how the holdout was drawn and which products it holds."""
    return {
        "fraction": float(fraction),
        "seed": int(seed),
        "source": source,
        "by": "product_code, stratified by category3_code",
        "fit_rows": len(fit_codes),
        "fit_codes_sha256": codes_digest(fit_codes),
        "holdout_rows": len(held_codes),
        "product_codes": sorted({int(c) for c in held_codes}),
    }
