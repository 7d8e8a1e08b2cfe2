"""Reading catalogue titles against a vocabulary: each title split into its size, line, pattern, material,
trim, detail, colour and noun, longest phrase first; unknown words become lines."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from datagen.catalogue.profile import CatalogueProfile

_STRIP = "\"'«»“”‘’()[]{},.;:!?"


VOCAB_KINDS = {
    "size": "sizes",
    "line": "lines",
    "pattern": "patterns",
    "material": "materials",
    "detail": "details",
}


# -- titles -------------------------------------------------------------------------------------------------
@dataclass
class Lexicon:
    """Known phrases (lower case) of the built-in vocabulary, and the built-in product nouns."""

    phrases: dict[tuple[str, ...], tuple[str, str]]  # words -> (option kind, vocabulary name)
    trims: dict[tuple[str, ...], str]
    colours: dict[tuple[str, ...], str]
    nouns: dict[tuple[str, ...], str]
    end_sizes: dict[str, str]
    max_len: int = 4

    @classmethod
    def from_profile(cls, profile: CatalogueProfile) -> Lexicon:
        vocab = profile.vocabulary
        phrases: dict[tuple[str, ...], tuple[str, str]] = {}
        for kind, section in VOCAB_KINDS.items():
            for name, spec in vocab[section].items():
                if name and spec.get("position", "front") != "none" and spec.get("position") != "end":
                    phrases.setdefault(_key(name), (kind, name))
        end_sizes = {n.lower(): n for n, s in vocab["sizes"].items() if s["position"] == "end"}
        nouns = {_key(e.noun): e.noun for e in profile.taxonomy if e.noun}
        return cls(
            phrases=phrases,
            trims={_key(n): n for n in vocab["trims"]},
            colours={_key(n): n for n in vocab["colours"]},
            nouns=nouns,
            end_sizes=end_sizes,
        )


def _key(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


def title_tokens(title: str) -> list[str]:
    """Words of a title with surrounding punctuation and quotes removed; bare numbers are not words."""
    return [t for t in (w.strip(_STRIP) for w in title.split()) if t and not t.isdigit()]


@dataclass
class ParsedTitle:
    """A title split into the grammar's slots; ``unknown`` holds words no slot took, in order."""

    attrs: dict[str, str] = field(default_factory=dict)
    noun: str | None = None
    colour: str | None = None
    unknown: list[str] = field(default_factory=list)
    unknown_first: bool = True  # did the unknown words come before the pattern/material?


def _longest(tokens: list[str], i: int, table: dict, max_len: int) -> tuple[int, object]:
    for n in range(min(max_len, len(tokens) - i), 0, -1):
        hit = table.get(tuple(t.lower() for t in tokens[i : i + n]))
        if hit is not None:
            return n, hit
    return 0, None


def parse_title(title: str, lexicon: Lexicon, noun: str | None = None) -> ParsedTitle:
    """Split ``title`` into size, line, pattern, material, trim, detail, noun and colour (pure).

    ``noun`` forces the product noun (a learned one); otherwise the longest known noun ending the title.
    """
    tokens = title_tokens(title)
    parsed = ParsedTitle()
    if len(tokens) >= 2 and tokens[-1].lower() in lexicon.end_sizes:
        parsed.attrs["size"] = lexicon.end_sizes[tokens.pop().lower()]
    for n in range(min(3, len(tokens) - 1), 0, -1):  # "... in Archive Beige"
        if (
            len(tokens) > n
            and tokens[-n - 1].lower() == "in"
            and _key(" ".join(tokens[-n:])) in lexicon.colours
        ):
            parsed.colour = lexicon.colours[_key(" ".join(tokens[-n:]))]
            del tokens[-n - 1 :]
            break
    nouns = {_key(noun): noun} if noun else lexicon.nouns
    for n in range(min(4, len(tokens)), 0, -1):
        hit = nouns.get(tuple(t.lower() for t in tokens[-n:]))
        if hit is not None:
            parsed.noun = hit
            del tokens[-n:]
            break
    i, seen_core = 0, False
    while i < len(tokens):
        if tokens[i].lower() == "and" and i + 1 < len(tokens):
            n, trim = _longest(tokens, i + 1, lexicon.trims, lexicon.max_len)
            if trim is not None and "trim" not in parsed.attrs:
                parsed.attrs["trim"] = str(trim)
                i += 1 + n
                continue
        n, hit = _longest(tokens, i, lexicon.phrases, lexicon.max_len)
        if hit is not None:
            kind, name = hit  # type: ignore[misc]
            if kind not in parsed.attrs:
                parsed.attrs[kind] = name
                seen_core = seen_core or kind in ("pattern", "material")
            i += n  # a second word of a taken slot ("Cashmere Cotton") is known, just not representable
            continue
        if tokens[i].lower() != "and":
            if not parsed.unknown:
                parsed.unknown_first = not seen_core
            parsed.unknown.append(tokens[i])
        i += 1
    return parsed


def learn_noun(titles: list[str], lexicon: Lexicon) -> str:
    """The most common run of 1-2 trailing unknown words of ``titles`` (>= 30% of them), else ""."""
    counts: Counter[str] = Counter()
    for title in titles:
        p = parse_title(title, lexicon)
        tokens = title_tokens(title)
        if p.noun or not p.unknown or not tokens or tokens[-1] != p.unknown[-1]:
            continue
        counts[p.unknown[-1]] += 1
        if len(p.unknown) >= 2 and tokens[-2:] == p.unknown[-2:]:
            counts[" ".join(p.unknown[-2:])] += 1
    if not counts:
        return ""
    best = max(counts.items(), key=lambda kv: (kv[1] * (1.2 if " " in kv[0] else 1.0), kv[0]))
    return best[0] if best[1] >= 0.3 * len(titles) else ""
