"""A title as phrases in the slots of the title grammar: known phrases of the built-in vocabulary keep theirs,
unknown words are grouped into phrases (words that nearly always travel together, a connector word with the
phrase after it), and the title's noun is found."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from datagen.fit.titles import Segment

# The slots of a title in the order build_title writes them: (option kind, position).
SLOTS: tuple[tuple[str, str], ...] = (
    ("size", "front"),
    ("detail", "front"),
    ("line", "front"),
    ("pattern", ""),
    ("material", ""),
    ("trim", ""),
    ("detail", "noun"),
    ("line", "noun"),
    ("noun", ""),
    ("size", "end"),
    ("colour", ""),
)
TRIM, NOUN, END, COLOUR = 5, 8, 9, 10
KIND = tuple(kind for kind, _ in SLOTS)
_SLOT_OF = {s: i for i, s in enumerate(SLOTS)}
STICK = 0.9  # two words are one phrase when one is followed (or preceded) by the other this often
EDGE = 0.05  # a connector starts or ends at most this share of the titles it is in ("and Leather Tote")


@dataclass
class Phrase:
    """Words of one title that fill one slot: its slot (None while unknown) and what it names."""

    words: list[str]
    slot: int | None = None
    base: tuple[str, str] | None = None  # (kind, name) of the built-in phrase it is, or extends
    connector: str = ""  # the lower-case connector word opening an unknown phrase
    lead: int = 0  # words before the name: the connector of a trim or colour

    @property
    def key(self) -> str:
        return " ".join(self.words).lower()

    @property
    def name(self) -> str:
        return " ".join(self.words[self.lead :])


def slot_of(segment: Segment) -> int:
    """The slot of a known segment."""
    if segment.kind in ("size", "line", "detail"):
        return _SLOT_OF[(segment.kind, segment.position or "front")]
    return _SLOT_OF[(segment.kind, "")]


def find_connectors(titles: list[list[Segment]]) -> tuple[set[str], bool]:
    """Lower-case words inside Title Case titles, (nearly) never first or last, joining varied words ("and",
    "in"), and whether the titles are in Title Case at all (else case marks nothing)."""
    count: Counter[str] = Counter()
    edge: Counter[str] = Counter()
    capital: set[str] = set()
    before: dict[str, set[str]] = defaultdict(set)
    after: dict[str, set[str]] = defaultdict(set)
    lower_words = total_words = 0
    for segments in titles:
        words = [w for s in segments for w in s.words]
        for i, w in enumerate(words):
            key = w.lower()
            total_words += 1
            lower_words += w[0].islower()
            count[key] += 1
            if not w[0].islower():
                capital.add(key)
            if i in (0, len(words) - 1):
                edge[key] += 1
            if i > 0:
                before[key].add(words[i - 1].lower())
            if i + 1 < len(words):
                after[key].add(words[i + 1].lower())
    if lower_words > 0.3 * max(1, total_words):
        return set(), False
    return {
        w
        for w, n in count.items()
        if n >= 3 and edge[w] <= EDGE * n and w not in capital and len(before[w]) >= 3 and len(after[w]) >= 2
    }, True


def find_glue(titles: list[list[Segment]], connectors: set[str], title_case: bool) -> set[tuple[str, str]]:
    """Pairs of adjacent unknown words that are one phrase: one nearly always beside the other, or (in Title
    Case titles) a lower-case word that is no connector ("Eau de Parfum")."""
    occ: Counter[str] = Counter()
    adj: Counter[tuple[str, str]] = Counter()
    capital: set[str] = set()
    for segments in titles:
        for i, s in enumerate(segments):
            if s.kind:
                continue
            occ[s.words[0].lower()] += 1
            if not _is_lower(s.words[0]):
                capital.add(s.words[0].lower())
            if i + 1 < len(segments) and not segments[i + 1].kind:
                adj[(s.words[0].lower(), segments[i + 1].words[0].lower())] += 1
    glued = set()
    for (a, b), n in adj.items():
        if a in connectors or b in connectors:
            continue
        sticky = n >= 2 and (n >= STICK * occ[a] or n >= STICK * occ[b])
        if sticky or (title_case and (a not in capital or b not in capital)):
            glued.add((a, b))
    return glued


def _is_lower(word: str) -> bool:
    return word[:1].islower()


def to_phrases(segments: list[Segment], glue: set[tuple[str, str]], connectors: set[str]) -> list[Phrase]:
    """A title's segments as phrases: known ones with their slot, unknown words grouped by ``glue`` and
    behind their connector."""
    items: list[Phrase] = []
    for i, s in enumerate(segments):
        if s.kind:
            lead = 1 if s.kind in ("trim", "colour") else 0
            connector = s.words[0].lower() if lead else ""
            items.append(Phrase(list(s.words), slot_of(s), (s.kind, s.name), connector, lead))
            continue
        key = s.words[0].lower()
        prev = segments[i - 1] if i > 0 else None
        joins = (
            prev is not None
            and not prev.kind
            and items
            and items[-1].slot is None
            and (prev.words[0].lower() in connectors or (prev.words[0].lower(), key) in glue)
        )
        if joins:
            items[-1].words.append(s.words[0])
        elif key in connectors:
            items.append(Phrase([s.words[0]], connector=key, lead=1))
        else:
            items.append(Phrase([s.words[0]]))
    return items


def suffix_start(items: list[Phrase]) -> int:
    """Index of the first phrase of the title's closing run: end sizes, colours and connector phrases."""
    i = len(items)
    while i > 0 and (
        items[i - 1].slot in (END, COLOUR) or (items[i - 1].slot is None and items[i - 1].connector)
    ):
        i -= 1
    return i


def extend_nouns(titles: list[list[Phrase]], heads: list[int], groups: Sequence[Hashable]) -> None:
    """Join to each title's noun (``heads``: its index, or -1) the unknown phrase before it in nearly all of
    the category's titles, three at least ("Quilted Jacket" in a category of quilted jackets). In place."""
    for _ in range(2):
        seen: Counter[tuple[Hashable, str]] = Counter()
        pairs: Counter[tuple[Hashable, str, str]] = Counter()
        for items, h, g in zip(titles, heads, groups, strict=True):
            if h < 0:
                continue
            seen[(g, items[h].key)] += 1
            prev = items[h - 1] if h > 0 else None
            if prev is not None and prev.slot is None and not prev.connector:
                pairs[(g, prev.key, items[h].key)] += 1
        changed = False
        for t, (items, h, g) in enumerate(zip(titles, heads, groups, strict=True)):
            if h <= 0 or items[h - 1].slot is not None or items[h - 1].connector:
                continue
            prev, head = items[h - 1], items[h]
            n = pairs[(g, prev.key, head.key)]
            if n >= 3 and n >= STICK * seen[(g, head.key)]:
                items[h - 1 : h + 1] = [Phrase(prev.words + head.words)]
                heads[t] = h - 1
                changed = True
        if not changed:
            return
