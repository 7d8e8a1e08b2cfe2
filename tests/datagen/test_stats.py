"""Column statistics for `datagen profile`: labels vs text, numbers, constants, relations, hand-computed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from contracts.errors import run_cli
from datagen.cli import group
from datagen.stats import column_relations, column_stats, format_stats, read_table
from tests.datagen.fixtures_real import dbq_row


def _by_name(stats: list[dict]) -> dict[str, dict]:
    return {s["column"]: s for s in stats}


def test_strings_with_few_values_are_labels_with_counts():
    """A string column with <= max_labels values lists its classes, most frequent first, ties by value."""
    df = pd.DataFrame({"c": ["B", "A", "B", "C", "A", "B"]})
    (s,) = column_stats(df, max_labels=3)
    assert s["kind"] == "label" and s["n_unique"] == 3 and not s["constant"]
    assert list(s["frequencies"].items()) == [("B", 3), ("A", 2), ("C", 1)]


def test_strings_with_many_values_get_length_statistics():
    """Above max_labels a string column is text: min/max/mean length and the most frequent values."""
    df = pd.DataFrame({"t": ["ab", "abcd", "abcdef", "ab"]})
    (s,) = column_stats(df, max_labels=2)
    assert s["kind"] == "text" and s["n_unique"] == 3
    assert (s["length"]["min"], s["length"]["max"], s["length"]["mean"]) == (2, 6, 3.5)
    assert list(s["top_values"].items())[0] == ("ab", 2)
    assert sum(s["length"]["histogram"]["hist"]) == 4
    assert "most frequent: 'ab' (2)" in format_stats([s])
    (unique,) = column_stats(pd.DataFrame({"t": ["ab", "abcd", "abcdef"]}), max_labels=2)
    assert "every value distinct" in format_stats([unique])


def test_numbers_get_min_max_mean_and_histogram():
    """Numbers: hand-computed summary; the histogram counts every value."""
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 10.0]})
    (s,) = column_stats(df)
    assert (s["min"], s["max"], s["mean"], s["median"]) == (1.0, 10.0, 4.0, 2.5)
    assert s["kind"] == "number" and sum(s["histogram"]["hist"]) == 4
    assert s["histogram"]["bin_edges"][0] == 1.0 and s["histogram"]["bin_edges"][-1] == 10.0


def test_constant_columns_are_flagged():
    """One value (string or number) is constant; missing values are counted, not classes."""
    df = pd.DataFrame({"s": ["x", "x", None], "n": [0, 0, 0]})
    stats = _by_name(column_stats(df))
    assert stats["s"]["constant"] and stats["s"]["n_missing"] == 1
    assert stats["n"]["constant"] and "[constant]" in format_stats(list(stats.values()))


def test_relations_find_equal_columns_the_eur_rate_and_url_patterns():
    """price == full_price, full_price_eur = full_price x 0.9225 to the cent, itemurl ends with the code."""
    rows = [
        dbq_row(26_000_000 + i, "USA", f"https://a.example/img/{i}", f"T {i}", 32.0 + 7 * i)
        for i in range(20)
    ]
    texts = [r["text"] for r in column_relations(pd.DataFrame(rows))]
    assert "price == full_price in every row" in texts
    assert "full_price_eur == full_price x 0.9225 to the cent in 100.0% of rows" in texts
    assert "itemurl ends with product_code in 100.0% of rows" in texts
    assert "product_code is unique" in texts
    assert "imageurl starts with https://a.example/img/ in 100.0% of rows" in texts


def test_profile_cli_prints_text_and_json(tmp_path, capsys):
    """`datagen profile FILE` prints one block per column; --json gives the same statistics as JSON."""
    rows = [dbq_row(26_000_000 + i, "FRA", "N.A.", f'Sac "{i}", cuir', 100.0 + i) for i in range(5)]
    path = tmp_path / "t.parquet"
    pd.DataFrame(rows).to_parquet(path)
    run_cli(group, ["profile", str(path)])
    text = capsys.readouterr().out
    assert text.startswith("5 rows, 17 columns") and "'MANTEAUX'" in text and "[constant]" in text
    run_cli(group, ["profile", str(path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == 5 and data["columns"] == json.loads(json.dumps(column_stats(read_table(path))))


def test_profile_of_a_non_dataset_is_one_line_exit_2(tmp_path, capsys):
    """A dir that is not a DATASET dir ends with one line and exit code 2."""
    with pytest.raises(SystemExit) as exc:
        run_cli(group, ["profile", str(tmp_path)])
    assert exc.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
