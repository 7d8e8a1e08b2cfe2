"""What the speed work must not change: the pixels, the plan, the split."""

import hashlib

import numpy as np

from contracts.dataset import layout
from contracts.dataset.split import _split_counts, _stratum_seed, assign_split_indices, assign_splits
from datagen.catalogue.profile import builtin_profile
from datagen.render.product import render_product
from datagen.synth.plan import chunk_candidates, plan_rows, row_candidates
from datagen.synth.sample import sample_latent, sample_latents

# sha256 of the raw pixels of rows 0-19, 25, 43, 86, 99 and 127 of seed 3 at 96 px (every pattern and
# detail kind among them), as rendered before the 1-bit masks: the renderer's speed-ups keep every pixel.
PIXELS_SHA256 = "eae5505ce8c83ad8bb3c83ecced3a704a9363a76b512e91a9535514ac6411bef"


def test_rendered_pixels_are_unchanged():
    profile = builtin_profile()
    digest = hashlib.sha256()
    for i in [*range(20), 25, 43, 86, 99, 127]:
        digest.update(render_product(sample_latent(profile, 3, i, 1), profile, 96).tobytes())
    assert digest.hexdigest() == PIXELS_SHA256


def test_vectorised_draws_equal_the_row_by_row_ones():
    """The draws of a chunk of rows, streams stepped together, equal those of each row's own generator."""
    profile = builtin_profile()
    for seed in (0, 2**33 + 1):
        rows = range(500, 900)
        assert chunk_candidates(profile, seed, rows) == [row_candidates(profile, seed, i) for i in rows]


def test_latents_of_a_chunk_equal_the_row_by_row_ones():
    profile = builtin_profile()
    attempts = [1, 2, 1, 4, 3, 1]
    assert sample_latents(profile, 9, 70, attempts) == [
        sample_latent(profile, 9, 70 + j, a) for j, a in enumerate(attempts)
    ]


def test_plan_is_the_same_with_draws_made_elsewhere():
    """Candidates computed by another mapper (here: row by row, chunk by chunk) give the same plan."""
    profile = builtin_profile()
    local = plan_rows(profile, 1, 3000)
    calls = []

    def mapper(chunks):
        for chunk in chunks:
            calls.append(chunk)
            yield [row_candidates(profile, 1, i) for i in chunk]

    mapped = plan_rows(profile, 1, 3000, mapper)
    assert len(calls) == 2 and calls[1] == range(2000, 3000)
    for name in ("codes", "entries", "attempts"):
        assert np.array_equal(getattr(local, name), getattr(mapped, name)), name
    assert (local.attempts > 1).any()  # some rows kept a later draw because their first title was taken


def _reference_splits(keys, strata, seed):
    """The split as first written, row by row: per stratum, keys sorted, shuffled, dealt out."""
    members = {}
    for key, stratum in zip(keys, strata, strict=True):
        members.setdefault(stratum, []).append(int(key))
    counts = _split_counts({s: len(m) for s, m in members.items()}, seed, layout.SPLIT_FRACTIONS)
    split_of = {}
    for stratum, stratum_keys in members.items():
        rng = np.random.default_rng([seed, _stratum_seed(stratum)])
        ordered = sorted(stratum_keys)
        shuffled = [ordered[i] for i in rng.permutation(len(ordered))]
        pos = 0
        for k in range(1, len(layout.SPLITS)):
            for key in shuffled[pos : pos + counts[stratum][k]]:
                split_of[key] = layout.SPLITS[k]
            pos += counts[stratum][k]
        for key in shuffled[pos:]:
            split_of[key] = layout.SPLITS[0]
    return [split_of[int(k)] for k in keys]


def test_vectorised_split_equals_the_row_by_row_one():
    rng = np.random.default_rng(0)
    for n in (3, 7, 40, 1000):
        keys = rng.choice(10**7, size=n, replace=False)
        strata = [f"S{i}" for i in rng.integers(0, 6, n)]
        seed = int(rng.integers(0, 2**40))
        assert assign_splits(keys.tolist(), strata, seed) == _reference_splits(keys, strata, seed)
        idx = assign_split_indices(keys, np.array(strata, dtype=object), seed)
        assert [layout.SPLITS[i] for i in idx] == _reference_splits(keys, strata, seed)
