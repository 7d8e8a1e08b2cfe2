"""The one split function: stratified, seeded, order-independent, 80/10/10."""

from collections import Counter

import pytest

from contracts.dataset.split import assign_splits


def _rows(n_strata: int = 30, per: int = 100, seed: int = 0):
    keys, strata = [], []
    for s in range(n_strata):
        for i in range(per + s):
            keys.append(26_000_000 + s * 10_000 + i)
            strata.append(f"CAT{s}")
    return keys, strata


def test_fractions_close_to_80_10_10_overall_and_per_stratum():
    """Totals hit round(n*fraction) exactly and every large stratum is split about 80/10/10."""
    keys, strata = _rows()
    splits = assign_splits(keys, strata, seed=0)
    total = Counter(splits)
    n = len(keys)
    assert total["validation"] == round(n * 0.1) and total["test"] == round(n * 0.1)
    for s in set(strata):
        c = Counter(sp for sp, st in zip(splits, strata, strict=True) if st == s)
        size = sum(c.values())
        assert abs(c["validation"] - size * 0.1) <= 1.5 and abs(c["test"] - size * 0.1) <= 1.5


def test_independent_of_input_order():
    """Shuffling the input rows does not change any row's split."""
    keys, strata = _rows(10, 20)
    base = dict(zip(keys, assign_splits(keys, strata, seed=3), strict=True))
    order = list(reversed(range(len(keys))))
    shuffled = assign_splits([keys[i] for i in order], [strata[i] for i in order], seed=3)
    assert {keys[i]: s for i, s in zip(order, shuffled, strict=True)} == base


def test_seed_changes_assignment_and_is_deterministic():
    """Same seed, same answer; another seed, another answer."""
    keys, strata = _rows(5, 50)
    assert assign_splits(keys, strata, 1) == assign_splits(keys, strata, 1)
    assert assign_splits(keys, strata, 1) != assign_splits(keys, strata, 2)


def test_small_strata_stay_mostly_in_train():
    """Strata of 1 or 2 rows go to train; a stratum of 3 keeps at least 2 in train."""
    keys, strata = _rows(20, 40)
    keys += [1, 2, 3, 4, 5, 6]
    strata += ["solo", "duo", "duo", "trio", "trio", "trio"]
    got = dict(zip(keys, assign_splits(keys, strata, seed=0), strict=True))
    assert got[1] == got[2] == got[3] == "train"
    assert sum(got[k] == "train" for k in (4, 5, 6)) >= 2


@pytest.mark.parametrize("n", [3, 4, 7, 10])
def test_every_split_non_empty_from_three_rows(n):
    """With 3 or more rows every split gets a row, even when every stratum is a singleton."""
    keys = list(range(100, 100 + n))
    assert set(assign_splits(keys, [f"s{k}" for k in keys], seed=0)) == {"train", "validation", "test"}
    assert set(assign_splits(keys, ["same"] * n, seed=0)) == {"train", "validation", "test"}


def test_rejects_duplicate_keys_and_bad_fractions():
    """Duplicate keys and fractions that do not sum to 1 are programming errors."""
    with pytest.raises(ValueError):
        assign_splits([1, 1], ["a", "a"], 0)
    with pytest.raises(ValueError):
        assign_splits([1, 2], ["a", "a"], 0, fractions=(0.5, 0.2, 0.2))
