"""The oracle reproduces titles and categories exactly; its price error is what the noise leaves."""

from contracts.dataset.reader import read_dataset
from datagen.oracle import oracle_answers, oracle_ceiling


def test_oracle_answers_every_row(tiny_synth):
    """One answer per row, title and category equal to the data."""
    answers = oracle_answers(tiny_synth)
    for frame in read_dataset(tiny_synth).values():
        for code, title, cat in frame[["product_code", "title", "category3_code"]].itertuples(index=False):
            assert answers[code]["title"] == title and answers[code]["category3_code"] == cat


def test_oracle_ceiling_is_near_perfect(tiny_synth):
    """Category accuracy 1, title score 100, median price error within the noise."""
    ceiling = oracle_ceiling(tiny_synth)
    assert ceiling["rows"] == 40 and ceiling["category_accuracy"] == 1.0
    assert ceiling["title_token_sort_ratio_mean"] == 100.0
    assert ceiling["price_median_ape_pct"] <= 6.0
