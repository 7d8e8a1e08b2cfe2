"""Counts in messages, in the right number: ``quantity(1, "row")`` is "1 row", ``quantity(3, "row")``
"3 rows"."""

from __future__ import annotations


def quantity(n: int, noun: str, plural: str | None = None, *, sep: bool = False) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``plural``: an irregular form; ``sep``: thousands
    separators, 3,040)."""
    number = f"{n:,}" if sep else str(n)
    return f"{number} {noun if n == 1 else (plural or noun + 's')}"
