"""The task every command shares: the question, the answer's format, the columns it is built from, and the
parser that reads an answer back.

The answer a model must learn to give from the image alone (the reference recipe's training target):

    Product: {title}, Category: {category3_code}, Full Price: {full_price}

``build_answer`` writes it, ``parse_answer`` reads it (and much that is near it) back; a field the parser
cannot read is ``None`` and is scored as wrong (lm-eval's explicit ``"[invalid]"`` fallback). Labels may come
in any order and case (``product``/``title``, ``category``, ``full price``/``price``), titles may contain
commas, and prices may carry currency symbols, codes, thousands separators and extra words (``about $1,290.00
USD``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

QUESTION = "What is shown in this image?"
# What a model that was never trained on the answer's format is asked (a foreign vision-language model, an
# endpoint): the question plus one instruction that states the format. ``evaluate --prompt FILE`` replaces it.
ANSWER_FORMAT_INSTRUCTION = (
    "Answer in exactly this format, on one line and with nothing else: "
    "Product: <the product's title>, Category: <its category in capital letters>, Full Price: <its price in "
    "US dollars, a number such as 1290.0>"
)
FOREIGN_PROMPT = f"{QUESTION} {ANSWER_FORMAT_INSTRUCTION}"
# The dataset columns an answer is built from: title, category and price, in the answer's order.
ANSWER_COLUMNS = ("title", "category3_code", "full_price")


class AnswerParts(NamedTuple):
    """What an answer says about one product."""

    title: str
    category: str
    price: float


def answer_parts_of(frame: Any) -> list[AnswerParts]:
    """``answer_parts`` of every row of ``frame`` (a pandas DataFrame with the ``ANSWER_COLUMNS``)."""
    columns: Iterable[tuple] = zip(*(frame[c] for c in ANSWER_COLUMNS), strict=True)
    return [AnswerParts(str(t), str(c), float(p)) for t, c, p in columns]


def format_price(full_price: float | int | str) -> str:
    """A price as the seed writes it: Python's ``str(float)``, e.g. ``2490.0``."""
    return str(float(full_price))


def build_answer(title: str, category3_code: str, full_price: float | int | str) -> str:
    """The answer the model must learn: ``Product: {title}, Category: {category3_code}, Full Price:
    {full_price}``."""
    return f"Product: {title}, Category: {category3_code}, Full Price: {format_price(full_price)}"


def answers_of(frame: Any) -> list[str]:
    """The answer of every row of ``frame``."""
    return [build_answer(*parts) for parts in answer_parts_of(frame)]


# -- reading an answer back --------------------------------------------------------------------------------

# Where a generation ends even if the decoder did not stop there.
_STOP_MARKERS = ("<|end|>", "<|endoftext|>", "</s>", "<|assistant|>", "<|user|>")

# One alternation of every label; the longest spelling of each comes first so "Full Price" is not read as
# "Price". A label must start a word and be followed by ':' or '='.
_LABEL = re.compile(
    r"(?<![\w])(?:"
    r"(?P<title>product[ \t_-]*(?:name|title)|product|title)"
    r"|(?P<category>category[ \t_-]*3(?:[ \t_-]*code)?|category)"
    r"|(?P<price>full[ \t_-]*price|price)"
    r")[ \t]*[:=]",
    re.IGNORECASE,
)
# Trailing "." is kept: "N.A." is a real category code (metrics normalise it away for comparison).
_FIELD_TRAIL = " \t\r\n,;|*"
_QUOTES = "\"'`“”‘’"
# A number as people write prices: digits with optional thousands separators (',', '.', "'", thin or normal
# spaces between groups of three) and an optional decimal part; an optional k/K suffix.
_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:[,.' \u202f\u00a0]\d{3})+|\d+)(?:([.,])(\d+))?(?:\s*([kK])\b)?")


@dataclass(frozen=True)
class ParsedAnswer:
    """The three fields of an answer; ``None`` where the text did not say it readably."""

    title: str | None = None
    category3_code: str | None = None
    full_price: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def parse_answer(text: object) -> ParsedAnswer:
    """Parse a generated answer; never raises. Unreadable or missing fields are ``None``.

    When a label occurs twice, the first occurrence wins (a model that repeats itself is judged on what it
    said first).
    """
    if not isinstance(text, str):
        return ParsedAnswer()
    text = _cut_at_stop(text)
    spans: dict[str, str] = {}
    matches = list(_LABEL.finditer(text))
    for i, match in enumerate(matches):
        field = match.lastgroup
        if field is None or field in spans:
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        spans[field] = text[match.end() : end]
    return ParsedAnswer(
        title=_clean_text(spans.get("title")),
        category3_code=_clean_text(spans.get("category")),
        full_price=parse_price(spans.get("price")),
    )


def parse_price(text: str | None) -> float | None:
    """The first amount in ``text`` as a float, or ``None``.

    ``$1,290.00`` → 1290.0; ``1.290,00 €`` → 1290.0; ``USD 450`` → 450.0; ``1,5k`` → 1500.0; ``12,5`` → 12.5.
    A comma, dot, apostrophe or space before a group of three digits is a thousands separator, except a lone
    dot (``1.290`` → 1.29, the way Python and the training answers write numbers). Negative, infinite or
    absurd (> 1e9) amounts are unreadable.
    """
    if not text:
        return None
    match = _NUMBER.search(text)
    if match is None:
        return None
    integer, sep, frac, kilo = match.groups()
    if sep is None and integer.count(".") == 1 and not re.search(r"[,' \u202f\u00a0]", integer):
        # "1.290" or "12.500" alone: a decimal point, the way float() and the training answers read it.
        integer, sep, frac = integer.split(".")[0], ".", integer.split(".")[1]
    digits = re.sub(r"[,.' \u202f\u00a0]", "", integer)
    try:
        value = float(digits + ("." + frac if sep and frac else ""))
    except ValueError:
        return None
    if kilo:
        value *= 1000.0
    if _negative_before(text, match.start()) or not math.isfinite(value) or value > 1e9:
        return None
    return value


def _negative_before(text: str, start: int) -> bool:
    prefix = text[:start].rstrip(" $€£¥")
    return prefix.endswith(("-", "−"))


def _cut_at_stop(text: str) -> str:
    for marker in _STOP_MARKERS:
        pos = text.find(marker)
        if pos >= 0:
            text = text[:pos]
    return text


def _clean_text(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split()).strip(_FIELD_TRAIL).strip(_QUOTES).strip(_FIELD_TRAIL)
    return cleaned or None
