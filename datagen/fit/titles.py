"""Reading catalogue titles against a vocabulary: each title split into its size, line, pattern, material,
trim, detail, colour and noun, longest phrase first, with the words no phrase takes kept in order."""

from __future__ import annotations

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
    positions: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> title position

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
        positions = {
            (kind, name): spec.get("position", "")
            for kind, section in VOCAB_KINDS.items()
            for name, spec in vocab[section].items()
        }
        return cls(
            phrases=phrases,
            trims={_key(n): n for n in vocab["trims"]},
            colours={_key(n): n for n in vocab["colours"]},
            nouns=nouns,
            end_sizes=end_sizes,
            positions=positions,
        )


def _key(text: str) -> tuple[str, ...]:
    return tuple(text.lower().split())


def title_tokens(title: str) -> list[str]:
    """Words of a title with surrounding punctuation and quotes removed; bare numbers and dashes are none."""
    words = (w.strip(_STRIP) for w in title.split())
    return [t for t in words if t and not t.isdigit() and any(c.isalnum() for c in t)]


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


@dataclass
class Segment:
    """Words of a title: a vocabulary phrase (``kind``, ``name``) or one unknown word (``kind`` "")."""

    words: list[str]
    kind: str = ""  # size, line, pattern, material, trim, detail, noun or colour; "" for an unknown word
    name: str = ""  # the vocabulary name (a trim or colour without its "and" / "in")
    position: str = ""  # front, noun or end for sizes, lines and details


def read_segments(title: str, lexicon: Lexicon) -> list[Segment]:
    """``title`` as segments in title order (pure): known phrases longest first, every other word alone.

    The end of the title is read first ("in <colour>", an end size such as "100ml", a known noun), then the
    rest left to right ("and <trim>", vocabulary phrases); unlike ``parse_title`` nothing is dropped.
    """
    tokens = title_tokens(title)
    tail: list[Segment] = []
    for n in range(min(3, len(tokens) - 2), 0, -1):  # "... in Archive Beige"
        words = _key(" ".join(tokens[-n:]))
        if tokens[-n - 1].lower() == "in" and words in lexicon.colours:
            tail.append(Segment(tokens[-n - 1 :], "colour", lexicon.colours[words]))
            del tokens[-n - 1 :]
            break
    if len(tokens) >= 2 and tokens[-1].lower() in lexicon.end_sizes:
        tail.insert(0, Segment([tokens[-1]], "size", lexicon.end_sizes[tokens.pop().lower()], "end"))
    for n in range(min(4, len(tokens)), 0, -1):
        hit = lexicon.nouns.get(tuple(t.lower() for t in tokens[-n:]))
        if hit is not None:
            tail.insert(0, Segment(tokens[-n:], "noun", hit))
            del tokens[-n:]
            break
    head: list[Segment] = []
    i = 0
    while i < len(tokens):
        if tokens[i].lower() == "and" and i + 1 < len(tokens):
            n, trim = _longest(tokens, i + 1, lexicon.trims, lexicon.max_len)
            if trim is not None:
                head.append(Segment(tokens[i : i + 1 + n], "trim", str(trim)))
                i += 1 + n
                continue
        n, hit = _longest(tokens, i, lexicon.phrases, lexicon.max_len)
        if hit is not None:
            kind, name = hit  # type: ignore[misc]
            head.append(Segment(tokens[i : i + n], kind, name, lexicon.positions.get((kind, name), "")))
            i += n
            continue
        head.append(Segment([tokens[i]]))
        i += 1
    return head + tail
