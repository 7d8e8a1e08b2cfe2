"""The answer parser: hostile model output gives None fields, never an exception."""

from __future__ import annotations

import pytest

from contracts.task import (
    ParsedAnswer,
    answer_parts_of,
    answers_of,
    build_answer,
    parse_answer,
    parse_price,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Product: Check Cashmere Scarf, Category: SCARVES, Full Price: 450.0",
            ParsedAnswer("Check Cashmere Scarf", "SCARVES", 450.0),
        ),
        (
            "Product: House Check Cotton, Nylon and Leather Sneakers, Category: SNEAKERS, "
            "Full Price: $1,290.00",
            ParsedAnswer("House Check Cotton, Nylon and Leather Sneakers", "SNEAKERS", 1290.0),
        ),
        (
            "category: trench coats, full price: USD 2,890, product: The Long Kensington Trench Coat",
            ParsedAnswer("The Long Kensington Trench Coat", "trench coats", 2890.0),
        ),
        (
            "Sure! Product: Mini Frances Bag, Category: CROSSBODY, Full Price: about $2,150.00 USD. Bye",
            ParsedAnswer("Mini Frances Bag", "CROSSBODY", 2150.0),
        ),
        (
            "Product: EKD Wool Cape, Category: PONCHOS & CAPES<|end|>Full Price: 990",
            ParsedAnswer("EKD Wool Cape", "PONCHOS & CAPES", None),
        ),
        ("Product: Card Case, Category: N.A., Full Price: 390.0", ParsedAnswer("Card Case", "N.A.", 390.0)),
        ("Product:Hat,Category:HATS,Full Price:€1.290,50", ParsedAnswer("Hat", "HATS", 1290.5)),
        ("**Product:** Belt\n**Category:** BELTS\n**Price:** 1.2k", ParsedAnswer("Belt", "BELTS", 1200.0)),
        ("Product: Scarf, Category: SCARVES, Full Price: free", ParsedAnswer("Scarf", "SCARVES", None)),
        ("Product: Scarf, Full Price: -450", ParsedAnswer("Scarf", None, None)),
        ("Product: , Category: , Full Price: ", ParsedAnswer(None, None, None)),
        ("Check Cashmere Scarf, SCARVES, 450.0", ParsedAnswer(None, None, None)),
        ("Product: A, Product: B, Category: X, Category: Y", ParsedAnswer("A", "X", None)),
        ("", ParsedAnswer()),
        ("\x00\ufffd<|end|><|end|>", ParsedAnswer()),
        ("Product: <script>alert(1)</script>, Category: X", ParsedAnswer("<script>alert(1)</script>", "X")),
        ("Full Price: inf", ParsedAnswer(None, None, None)),
        ("Full Price: 99999999999999999999", ParsedAnswer(None, None, None)),
    ],
)
def test_parse_answer_hostile(text, expected):
    """Commas in titles, currency, separators, reordering, lowercase, extra words and garbage parse safely."""
    assert parse_answer(text) == expected


@pytest.mark.parametrize("junk", [None, 42, 3.5, b"Product: x", ["Product: x"], "Product:" * 500, ":" * 1000])
def test_parse_answer_never_raises(junk):
    """Anything at all, including non-strings, returns a ParsedAnswer."""
    assert isinstance(parse_answer(junk), ParsedAnswer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,290.00", 1290.0),
        ("1290.0", 1290.0),
        ("1290", 1290.0),
        ("1.290,00 €", 1290.0),
        ("1.290", 1.29),
        ("12,5", 12.5),
        ("1 290 USD", 1290.0),
        ("70'000", 70000.0),
        ("USD450", 450.0),
        ("1,250,000.5", 1250000.5),
        ("$ -12", None),
        ("n/a", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_price(text, expected):
    """Prices read the way people write them; unreadable amounts are None."""
    assert parse_price(text) == expected


def test_price_formatted_as_python_float():
    """Prices read like str(float): ints and strings become `2490.0`, decimals stay."""
    assert build_answer("T", "C", 2490).endswith("Full Price: 2490.0")
    assert build_answer("T", "C", "32").endswith("Full Price: 32.0")
    assert build_answer("T", "C", 1290.5).endswith("Full Price: 1290.5")


def test_answer_parts_come_from_the_answer_columns():
    """The columns an answer is built from are read once, from a row or a whole frame."""
    import pandas as pd

    row = {"title": "Mini Bag", "category3_code": "SHOULDER", "full_price": 1290, "brand": "x"}
    frame = pd.DataFrame([row, {**row, "title": "Scarf"}])
    assert answer_parts_of(frame) == [("Mini Bag", "SHOULDER", 1290.0), ("Scarf", "SHOULDER", 1290.0)]
    assert answers_of(frame)[0] == "Product: Mini Bag, Category: SHOULDER, Full Price: 1290.0"
    assert parse_answer(answers_of(frame)[1]) == ParsedAnswer("Scarf", "SHOULDER", 1290.0)
