"""The oracle reproduces titles and categories exactly; its price error is what the noise leaves."""

import statistics

from contracts.dataset import layout
from contracts.dataset.reader import read_dataset, read_latents


def test_every_row_carries_the_oracles_answer(tiny_synth):
    """Beside each row's latent attributes, the generator's answer: title and category equal to the row's,
    price within the bounded noise (median error at most 6%)."""
    latents = read_latents(tiny_synth)
    oracle = dict(zip(latents["product_code"], latents[layout.ORACLE_KEY], strict=True))
    errors = []
    for frame in read_dataset(tiny_synth).values():
        for code, title, cat, price in frame[
            ["product_code", "title", "category3_code", "full_price"]
        ].itertuples(index=False):
            assert oracle[code]["title"] == title and oracle[code]["category3_code"] == cat
            errors.append(abs(oracle[code]["full_price"] - price) / price * 100)
    assert len(errors) == 40 and statistics.median(errors) <= 6.0
