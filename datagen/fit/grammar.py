"""Learning a catalogue's title grammar from its own titles, so fitted titles use its words in its order.

Each title is read as segments (``read_segments``): phrases of the built-in vocabulary, whose slot in the
title grammar (``SLOTS``, the order ``build_title`` writes) is known, and unknown words. Then, over the whole
catalogue (``datagen.fit.phrases``, ``datagen.fit.slots``):

- unknown words are grouped into phrases: words that nearly always travel together ("Cat-eye Frame"), and
  a *connector* (a lower-case word inside Title Case titles: "and", "in", "en") with the phrase after it;
- a title's noun is its last phrase before any closing connector phrase or end size, extended by a word
  that precedes it in nearly all titles of its category ("Quilted Jacket");
- connector phrases become trims ("and Leather") and colours ("in Black") with the catalogue's own
  connector words, else words at the end or part of the phrase before them;
- every other unknown phrase gets the slot that keeps the most word pairs of its titles in order;
- a phrase that cannot keep its slot in a title joins its neighbour ("Stretch Cotton"): no word is lost.

``learn_grammar`` is pure: titles in, a ``Grammar`` (each title's slots, the new words, the connectors) out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from datagen.catalogue.profile import DEFAULT_CONNECTORS, OPTION_SECTIONS
from datagen.fit.phrases import (
    COLOUR,
    END,
    KIND,
    NOUN,
    SLOTS,
    TRIM,
    Phrase,
    extend_nouns,
    find_connectors,
    find_glue,
    suffix_start,
    to_phrases,
)
from datagen.fit.slots import in_order, noun_key, place, variable
from datagen.fit.titles import Lexicon, ParsedTitle, read_segments

_KIND_OF = {section: kind for kind, section in OPTION_SECTIONS.items()}


@dataclass
class Grammar:
    """What ``learn_grammar`` found: each title's slots, and the words and connectors the profile needs."""

    parsed: list[ParsedTitle]
    # (vocabulary section, name) -> (position, (section, name) of the built-in word it extends, or None)
    words: dict[tuple[str, str], tuple[str, tuple[str, str] | None]]
    connectors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CONNECTORS))


def _choose_connectors(titles: list[list[Phrase]], suffixes: list[int]) -> dict[str, str]:
    """The catalogue's trim and colour connectors: its most frequent ones before and after the noun."""
    trim: Counter[str] = Counter()
    colour: Counter[str] = Counter()
    for phrases, start in zip(titles, suffixes, strict=True):
        for i, p in enumerate(phrases):
            if p.slot == TRIM or (p.slot is None and p.connector and i < start):
                trim[p.connector] += 1
            elif p.slot == COLOUR or (p.slot is None and p.connector):
                colour[p.connector] += 1

    def best(c: Counter[str], default: str) -> str:
        return max(c.items(), key=lambda kv: (kv[1], kv[0] == default, kv[0]))[0] if c else default

    return {"trim": best(trim, "and"), "colour": best(colour, "in")}


def _connect(phrases: list[Phrase], head: int, suffix: int, chosen: dict[str, str]) -> list[Phrase]:
    """The title with its noun marked and its connector phrases placed: a trim or colour with the chosen
    connector, a word at the end after the noun, else part of the phrase before it."""
    out: list[Phrase] = []
    for i, p in enumerate(phrases):
        after_noun = i >= suffix
        if i == head:
            p.slot = NOUN
        elif p.slot in (TRIM, COLOUR) and p.connector != chosen["trim" if p.slot == TRIM else "colour"]:
            p.slot, p.lead, p.base = (END if after_noun else None), 0, None  # another language's connector
        if p.slot is None and p.connector:
            if after_noun:
                p.slot, p.lead = (COLOUR, 1) if p.connector == chosen["colour"] else (END, 0)
            elif p.connector == chosen["trim"] and len(p.words) > 1:
                p.slot = TRIM
            elif out and out[-1].slot != NOUN:
                out[-1].words += p.words
                continue
            else:
                p.lead = 0
        if p.slot is None and after_noun:
            p.slot = END
        out.append(p)
    return out


def _resolve(phrases: list[Phrase]) -> list[Phrase]:
    """The title's phrases in increasing slots, one per kind; one that breaks the order joins a neighbour."""
    kept: list[Phrase] = []
    for i, p in enumerate(phrases):
        assert p.slot is not None
        if p.slot == NOUN or not kept:
            kept.append(p)
            continue
        prev = kept[-1]
        if in_order(prev.slot, p.slot) and KIND[p.slot] not in {KIND[k.slot] for k in kept}:  # type: ignore[arg-type,index]
            kept.append(p)
        elif prev.slot != NOUN:  # joins the phrase before it
            prev.words += p.words
        elif i + 1 < len(phrases):  # right after the noun: joins the phrase after it
            nxt = phrases[i + 1]
            nxt.words[nxt.lead : nxt.lead] = p.words
    return kept


def _read(titles: list[list[Phrase]], lexicon: Lexicon) -> tuple[list[ParsedTitle], dict]:
    """Each title's slots as a ``ParsedTitle``, and the words the vocabulary lacks (see ``Grammar.words``)."""
    surface: dict[str, Counter[str]] = defaultdict(Counter)  # one spelling per phrase: its most common
    for phrases in titles:
        for p in phrases:
            if p.base is None:
                surface[p.key][" ".join(p.words)] += 1
    spelled = {k: max(c.items(), key=lambda kv: (kv[1], kv[0]))[0] for k, c in surface.items()}
    parsed: list[ParsedTitle] = []
    votes: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for phrases in titles:
        for p in phrases:
            if p.base is None:
                p.words = spelled[p.key].split(" ")
        title = ParsedTitle()
        for p in _resolve(phrases):
            kind, position = SLOTS[p.slot]  # type: ignore[index]
            if kind == "noun":
                title.noun = p.base[1] if p.base is not None else p.name
            elif kind == "colour":
                title.colour = p.name
                if tuple(p.name.lower().split()) not in lexicon.colours:
                    votes[("colours", p.name)][("", None)] += 1
            else:
                title.attrs[kind] = p.name
                base = p.base if p.base is not None and p.base[0] == kind else None
                votes[(OPTION_SECTIONS[kind], p.name)][(position, base)] += 1
        parsed.append(title)
    words: dict[tuple[str, str], tuple[str, tuple[str, str] | None]] = {}
    for (section, name), c in sorted(votes.items()):
        position, base = max(c.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
        if base == (_KIND_OF.get(section), name) and lexicon.positions.get(base, "") == position:
            continue  # a built-in word where the built-in vocabulary puts it
        words[(section, name)] = (position, (OPTION_SECTIONS[base[0]], base[1]) if base else None)
    return parsed, words


def learn_grammar(titles: Sequence[str], groups: Sequence[Hashable], lexicon: Lexicon) -> Grammar:
    """Read every title into grammar slots, learning phrases, nouns, connectors and slots (pure).

    ``groups`` (e.g. the category triple of each title) scope the noun extension.
    """
    segments = [read_segments(t, lexicon) for t in titles]
    connectors, title_case = find_connectors(segments)
    glue = find_glue(segments, connectors, title_case)
    phrases = [to_phrases(s, glue, connectors) for s in segments]
    heads = []
    for ps, start in zip(phrases, map(suffix_start, phrases), strict=True):
        h = start - 1
        heads.append(h if h >= 0 and ps[h].slot in (None, NOUN) and not ps[h].connector else -1)
    extend_nouns(phrases, heads, groups)
    suffixes = [suffix_start(ps) for ps in phrases]
    chosen = _choose_connectors(phrases, suffixes)
    phrases = [_connect(*args, chosen) for args in zip(phrases, heads, suffixes, strict=True)]
    placed = place(phrases)
    for ps in phrases:
        noun = noun_key(ps)
        for p in ps:
            if (word := variable(p)) is not None:
                p.slot = placed[(word, noun)]
    parsed, words = _read(phrases, lexicon)
    return Grammar(parsed=parsed, words=words, connectors=chosen)
