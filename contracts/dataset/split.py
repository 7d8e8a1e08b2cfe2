"""The one split function: stratified, seeded train/validation/test assignment that every command reuses.

Rows are identified by an integer key (the product code) and grouped by a stratum (``category3_code``).
The result depends only on the *set* of (key, stratum) pairs and the seed, never on input order, so a shard of
a synthetic run, the whole run and the real-data importer all agree on each product's split.

How counts are chosen:

1. Global targets: every split after the first gets ``round(n * fraction)`` rows (at least one each when
   there are at least as many rows as splits); the first split (train) takes the rest.
2. Each stratum first gets ``floor(n_stratum * fraction)`` rows of each later split, so small strata keep
   all their rows in train.
3. The slots still missing from a target go one by one to the stratum furthest below its share, but only
   while the stratum keeps a strict majority of its rows in train; if no stratum can take a slot under that
   rule (say every stratum has one row), the rule is relaxed so the global targets still hold.
4. Inside a stratum, keys are sorted, shuffled with a generator seeded by (seed, stratum), and dealt out.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np

from contracts.dataset import layout


def _stratum_seed(stratum: str) -> int:
    return zlib.crc32(stratum.encode("utf-8"))


def _split_counts(sizes: dict[str, int], seed: int, fractions: Sequence[float]) -> dict[str, list[int]]:
    """Rows of each split per stratum (index = split), following the rules in the module docstring."""
    total = sum(sizes.values())
    n_splits = len(fractions)
    targets = [round(total * f) for f in fractions]
    if total >= n_splits:
        targets = [max(1, t) for t in targets]
    targets[0] = 0  # the first split takes whatever the others leave

    counts = {s: [0] * n_splits for s in sizes}
    for s, n in sizes.items():
        for k in range(1, n_splits):
            counts[s][k] = math.floor(n * fractions[k])
    # Random but fixed priority between equally deserving strata.
    prio_rng = np.random.default_rng([seed, 0x5B117])
    order = sorted(sizes)
    priority = dict(zip(order, prio_rng.permutation(len(order)).tolist(), strict=True))

    for k in range(1, n_splits):
        missing = targets[k] - sum(c[k] for c in counts.values())
        for _ in range(max(0, missing)):
            best = None
            for strict in (True, False):
                candidates = []
                for s, n in sizes.items():
                    left = n - sum(counts[s][1:])
                    if left <= 0 or (strict and 2 * (left - 1) <= n):
                        continue
                    deficit = n * fractions[k] - counts[s][k]
                    candidates.append((deficit, left, -priority[s], s))
                if candidates:
                    best = max(candidates)[3]
                    break
            if best is None:  # every row is already outside the first split
                break
            counts[best][k] += 1
    for s, n in sizes.items():
        counts[s][0] = n - sum(counts[s][1:])
    return counts


def assign_split_indices(
    keys: Sequence[int] | np.ndarray,
    strata: Sequence[str] | np.ndarray,
    seed: int,
    fractions: Sequence[float] = layout.SPLIT_FRACTIONS,
) -> np.ndarray:
    """Like ``assign_splits``, as an array of indices into ``layout.SPLITS`` (uint8, one per row): numpy
    throughout, so a million rows take well under a second and a few bytes each."""
    n = len(keys)
    if n != len(strata):
        raise ValueError(f"{n} keys but {len(strata)} strata")
    if (
        len(fractions) != len(layout.SPLITS)
        or any(f < 0 for f in fractions)
        or abs(sum(fractions) - 1) > 1e-9
    ):
        raise ValueError(
            f"fractions must be {len(layout.SPLITS)} non-negative numbers summing to 1: {fractions}"
        )
    int_keys = np.asarray(keys, dtype=np.int64)
    if len(np.unique(int_keys)) != n:
        raise ValueError("keys must be unique")
    index = {name: i for i, name in enumerate(dict.fromkeys(str(s) for s in strata))}
    names = list(index)
    codes = np.fromiter((index[str(s)] for s in strata), dtype=np.int32, count=n)
    by_stratum = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_stratum], np.arange(len(names) + 1))
    counts = _split_counts(
        {names[j]: int(bounds[j + 1] - bounds[j]) for j in range(len(names))}, seed, fractions
    )

    out = np.zeros(n, dtype=np.uint8)
    for j, stratum in enumerate(names):
        rows = by_stratum[bounds[j] : bounds[j + 1]]
        order = np.argsort(int_keys[rows], kind="stable")  # the stratum's keys, sorted
        rng = np.random.default_rng([seed, _stratum_seed(stratum)])
        perm = rng.permutation(len(rows))  # shuffled[t] = sorted[perm[t]]
        # Deal validation, test, ... first, so train takes the remainder.
        dealt = np.zeros(len(rows), dtype=np.uint8)
        pos = 0
        for k in range(1, len(layout.SPLITS)):
            dealt[pos : pos + counts[stratum][k]] = k
            pos += counts[stratum][k]
        split_of_sorted = np.empty(len(rows), dtype=np.uint8)
        split_of_sorted[perm] = dealt
        out[rows[order]] = split_of_sorted
    return out


def assign_splits(
    keys: Sequence[int],
    strata: Sequence[str],
    seed: int,
    fractions: Sequence[float] = layout.SPLIT_FRACTIONS,
) -> list[str]:
    """Assign each row to a split name of ``layout.SPLITS``, stratified by ``strata``.

    Args:
        keys: one unique integer per row (the product code).
        strata: one stratum per row (the ``category3_code``).
        seed: the seed; the same set of rows and seed give the same assignment whatever the input order.
        fractions: one fraction per split in ``layout.SPLITS`` order, summing to 1.

    Returns:
        The split name of each row, in input order.

    Raises:
        ValueError: on mismatched lengths, duplicate keys or bad fractions (a programming error).
    """
    return [layout.SPLITS[i] for i in assign_split_indices(keys, strata, seed, fractions).tolist()]
