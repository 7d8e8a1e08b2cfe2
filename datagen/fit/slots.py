"""Placing unknown phrases in the slots of the title grammar: each gets the slot that keeps the most word
pairs of its titles in order, first one per word over the catalogue, then one per word and noun where the
noun's titles need another; ties go to the slot of the most similar word (one that shares its neighbours
and nouns), then to a line, as unknown words were before."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from datagen.fit.phrases import COLOUR, END, KIND, NOUN, TRIM, Phrase

FREE = (2, 7, 1, 6, 0, 3, 4)  # slots an unknown phrase before the noun may take, most preferred first
MOVABLE = {"line": (2, 7), "detail": (1, 6)}  # known words whose position the catalogue's order decides
MAX_SWEEPS = 30
SIMILAR = 30  # most similar words kept per word, for ties between slots


def in_order(a: int, b: int) -> bool:
    """May a phrase in slot ``a`` come before one in slot ``b`` in one title?"""
    return a < b and KIND[a] != KIND[b]


def variable(it: Phrase) -> tuple | None:
    """What decides an item's slot: its phrase when unknown, its word when a known line or detail."""
    if it.slot is None:
        return ("?", it.key)
    if it.base is not None and it.base[0] in MOVABLE and it.slot in MOVABLE[it.base[0]]:
        return ("known", *it.base)
    return None


def noun_key(items: list[Phrase]) -> str:
    return next((it.key for it in items if it.slot == NOUN), "")


def _ident(it: Phrase) -> tuple:
    """A word as a neighbour: the variable deciding its slot, or the fixed word itself."""
    word = variable(it)
    return word if word is not None else ("fixed", it.slot, it.base or it.key)


def _similar(titles: list[list[Phrase]]) -> dict[tuple, list[tuple[tuple, float]]]:
    """For each variable word, the words that share its neighbours and nouns (cosine of those counts), most
    similar first: words that stand for one another ("Camden" for "Chelsea Heritage")."""
    vectors: dict[tuple, Counter] = defaultdict(Counter)
    for items in titles:
        noun = noun_key(items)
        for i, it in enumerate(items):
            if it.slot in (TRIM, NOUN, END, COLOUR) and variable(it) is None:
                continue
            vec = vectors[_ident(it)]
            vec[("N", noun)] += 1
            vec[("L", _ident(items[i - 1]) if i > 0 else "^")] += 1
            vec[("R", _ident(items[i + 1]) if i + 1 < len(items) else "$")] += 1
    index: dict[tuple, list[tuple]] = defaultdict(list)
    for who, vec in vectors.items():
        for ctx in vec:
            index[ctx].append(who)
    norm = {who: math.sqrt(sum(n * n for n in vec.values())) for who, vec in vectors.items()}
    out: dict[tuple, list[tuple[tuple, float]]] = {}
    for word, vec in vectors.items():
        if word[0] == "fixed":
            continue
        dots: Counter = Counter()
        for ctx, n in vec.items():
            for other in index[ctx]:
                if other != word:
                    dots[other] += n * vectors[other][ctx]
        sims = [(o, d / (norm[word] * norm[o])) for o, d in dots.items()]
        out[word] = sorted(sims, key=lambda t: (-t[1], str(t[0])))[:SIMILAR]
    return out


def _solve(titles: list[list[Phrase]], var_of, similar: dict, start: dict | None = None) -> dict:
    """Coordinate descent over the slots of the variables ``var_of(title, item)``: each takes the slot that
    keeps the most word pairs of its titles in order; ties go to the slot of the most similar word, then
    (with ``start``) to the slot it started from, then to the preferred kind."""
    occurrences: dict = defaultdict(list)  # variable -> [(title, index)]
    target: dict = defaultdict(list)  # variable -> where it sits between known slots, per occurrence
    domain: dict = {}
    slot: dict = {}
    keys = [[var_of(t, it) for it in items] for t, items in enumerate(titles)]
    for t, items in enumerate(titles):
        anchors = [(j, it.slot) for j, it in enumerate(items) if it.slot is not None and keys[t][j] is None]
        for i, it in enumerate(items):
            var = keys[t][i]
            if var is None:
                continue
            occurrences[var].append((t, i))
            if it.slot is not None:  # a known line or detail: its two positions
                domain[var], slot[var] = MOVABLE[it.base[0]], it.slot  # type: ignore[index]
                continue
            domain[var] = FREE
            left_j, left = max(((j, s) for j, s in anchors if j < i), default=(-1, -1))
            right_j, right = min(((j, s) for j, s in anchors if j > i), default=(len(items), NOUN))
            right = min(right, NOUN)  # type: ignore[type-var]
            target[var].append(left + (i - left_j) * (right - left) / (right_j - left_j))
    rank = {s: r for r, s in enumerate(FREE)}
    mean = {v: sum(ts) / len(ts) for v, ts in target.items()}
    for var in target:
        slot[var] = min(FREE, key=lambda s: (abs(s - mean[var]), rank[s]))
    if start:
        slot.update({v: s for v, s in start.items() if v in slot and s in domain[v]})
    per_noun = start is not None

    def score(var, s: int) -> int:
        total = 0
        for t, i in occurrences[var]:
            for j, other in enumerate(titles[t]):
                if j != i:
                    o = slot[keys[t][j]] if keys[t][j] is not None else other.slot
                    total += in_order(s, o) if j > i else in_order(o, s)  # type: ignore[arg-type]
        return total

    def affinity(var, s: int) -> float:
        word, noun = var if per_noun else (var, None)
        for other, sim in similar.get(word, ()):
            o = other[1] if other[0] == "fixed" else slot.get((other, noun) if per_noun else other)
            if o == s:
                return sim
        return 0.0

    def best(var, keep: bool) -> int:
        def key(s: int) -> tuple:
            here = s == slot[var]
            if per_noun:  # refine: stay unless strictly better
                return (score(var, s), here, affinity(var, s), -rank.get(s, 0))
            return (
                score(var, s),
                affinity(var, s),
                keep and here,
                -abs(s - mean.get(var, s)),
                -rank.get(s, 0),
            )

        return max(domain[var], key=key)

    order = sorted(occurrences, key=lambda v: (-len(occurrences[v]), str(v)))
    for _ in range(MAX_SWEEPS):
        changed = False
        for var in order:
            s = best(var, keep=True)
            if s != slot[var]:
                slot[var], changed = s, True
        if not changed:
            break
    if not per_noun:  # among equally good slots, the preferred kind (a line, as unknown words were)
        for s in sorted(FREE, key=lambda s: -rank[s]):
            group = [v for v in order if slot[v] == s and domain[v] == FREE]
            before = sum(score(v, s) for v in group)
            for better in sorted((f for f in FREE if rank[f] < rank[s]), key=lambda f: rank[f]):
                for v in group:
                    slot[v] = better
                if sum(score(v, better) for v in group) >= before:
                    break
                for v in group:
                    slot[v] = s
        for var in order:
            slot[var] = best(var, keep=False)
    return slot


def place(titles: list[list[Phrase]]) -> dict[tuple, int]:
    """A slot per (word, noun) (see ``variable``): first one per word over the whole catalogue, then per noun
    where that keeps more of the noun's titles in order, so one word may take two slots for two kinds of
    product ("Oversized" sunglasses, a cotton oversized dress)."""
    similar = _similar(titles)
    nouns = [noun_key(items) for items in titles]
    overall = _solve(titles, lambda t, it: variable(it), similar)
    start = {
        (w, nouns[t]): overall[w] for t, items in enumerate(titles) for it in items if (w := variable(it))
    }
    per_noun = _solve(
        titles, lambda t, it: (w, nouns[t]) if (w := variable(it)) is not None else None, similar, start
    )
    return per_noun
