"""datagen.synth.streams: numpy's own seeding and PCG64 draws, for many rows at once, bit for bit."""

import numpy as np
import pytest

from datagen.synth.sample import product_code, product_codes
from datagen.synth.streams import Streams, _pool

INDICES = np.array([0, 1, 2, 5, 1000, 99_999, 2**31, 2**32 - 1], dtype=np.int64)


@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1, 2**32, 2**40 + 5, 12345678901234567890])
def test_states_and_draws_equal_numpys(seed):
    """SeedSequence pools, PCG64 states and increments, doubles, and the generator handed back."""
    streams = Streams(seed, INDICES)
    pools = _pool(seed, INDICES)
    for j, index in enumerate(INDICES.tolist()):
        sequence = np.random.SeedSequence([seed, index])
        assert [int(p[j]) for p in pools] == sequence.pool.tolist()
        state = np.random.PCG64(sequence).state["state"]
        assert (int(streams.hi[j]) << 64 | int(streams.lo[j])) == state["state"]
        assert (int(streams.inc_hi[j]) << 64 | int(streams.inc_lo[j])) == state["inc"]
    draws = streams.random(9)
    shared = np.random.PCG64(0)
    for j, index in enumerate(INDICES.tolist()):
        reference = np.random.default_rng([seed, index])
        assert np.array_equal(draws[j], reference.random(9))
        again = streams.generator(j, shared)
        assert np.array_equal(again.random(3), reference.random(3)) and again.bytes(16) == reference.bytes(16)


def test_product_codes_equal_the_scalar_ones():
    for seed, lo, hi in ((0, 26_000_000, 80_900_000), (7, 10, 19), (2**40 + 3, 1, 1000)):
        n = min(hi - lo + 1, 3000)
        assert product_codes(np.arange(n), seed, lo, hi).tolist() == [
            product_code(i, seed, lo, hi) for i in range(n)
        ]
