"""The plan of a run: each row's product code, taxonomy entry and which attribute draw it keeps.

Row i's draws depend on (seed, i) alone (``sample._draws``); which draw it keeps depends on the titles kept
before it: the first title of good length (8-71 characters) not kept before, or after ``MAX_ATTEMPTS`` draws
the first of good length even if taken (a small option space has only so many titles). The draws are the
costly part and are computed chunk by chunk, anywhere (``chunk_candidates``, mapped over a process pool); the
choice is made in row order in one place (``plan_rows``). Titles are remembered as 8-byte keys in one numpy
table, so the plan stays a few bytes a row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from contracts.errors import UserError
from datagen.catalogue.profile import OPTION_KINDS, CatalogueProfile
from datagen.synth.sample import (
    MAX_ATTEMPTS,
    TITLE_MAX,
    TITLE_MIN,
    CompiledProfile,
    _draws,
    _title_ok,
    attrs_at,
    compiled,
    product_code,
    product_codes,
)
from datagen.synth.titles import build_title

PLAN_CHUNK = 2000  # rows whose draws are computed together (by one worker of a pool)
_MEMO_LIMIT = 200_000  # remembered titles of attribute combinations (the built-in catalogue has ~40,000)

# (entry index, product code, title keys of the row's draws; 0 where the title's length is out of range,
# negative where the title is one of a fitted profile's source titles)
Candidates = tuple[int, int, list[int]]


def title_key(title: str) -> int:
    """A title's 64-bit hash (never 0, which marks a title of bad length). Two titles share a key with a
    chance of about one in 10^7 at 10^6 titles, and would only change which draw a row keeps."""
    return int.from_bytes(hashlib.blake2b(title.encode("utf-8"), digest_size=8).digest(), "little") or 1


def _key(title: str, profile: CatalogueProfile) -> int:
    """A draw's key for the plan: 0 for a title of bad length, minus the key for a source title."""
    if not _title_ok(title, None):
        return 0
    return -title_key(title) if profile.is_source_title(title) else title_key(title)


def _usable(key: int, profile: CatalogueProfile) -> bool:
    """Whether a draw can be kept at all: a title of good length, not a source title under --no-copies."""
    return key > 0 or (key < 0 and not profile.excludes_source_titles)


def row_candidates(profile: CatalogueProfile, seed: int, index: int) -> Candidates:
    """Row ``index``'s entry, code and draws' keys, row by row: as many draws as ``plan_rows`` can look at
    (up to ``MAX_ATTEMPTS``, more while none can be kept)."""
    cp = compiled(profile)
    _, entry_index, draws = _draws(cp, seed, index)
    entry = profile.taxonomy[entry_index]
    keys: list[int] = []
    any_ok = False
    for n, attrs in enumerate(draws, 1):
        key = _key(build_title(attrs, entry, profile), profile)
        keys.append(key)
        any_ok = any_ok or _usable(key, profile)
        if (n >= MAX_ATTEMPTS and any_ok) or n >= 50 * MAX_ATTEMPTS:
            break
    return entry_index, product_code(index, seed, profile.product_code_min, profile.product_code_max), keys


class _Vectorised:
    """A profile's option tables as arrays, for picking the draws of many rows with ``np.searchsorted``
    exactly as ``_Options.pick`` does one by one (``bisect_right``, clipped to the last option)."""

    def __init__(self, cp: CompiledProfile) -> None:
        materials = list(cp.colours)
        self.entry_ids = np.array([int(n) for n in cp.entries.names])
        self.entry_cum = np.array(cp.entries.cum)
        self.kinds = {
            e: [(np.array(opts[k].cum), len(opts[k].names)) for k in OPTION_KINDS]
            for e, opts in enumerate(cp.options)
        }
        self.material_ids = {
            e: np.array([materials.index(m) for m in opts["material"].names], dtype=np.int64)
            for e, opts in enumerate(cp.options)
        }
        self.colours = [(np.array(cp.colours[m].cum), len(cp.colours[m].names)) for m in materials]
        self.memo: dict[tuple, int] = {}


_VECTORISED: dict[str, _Vectorised] = {}


def _pick(cum: np.ndarray, count: int, u: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cum, u, side="right"), count - 1)


def chunk_candidates(profile: CatalogueProfile, seed: int, rows: range) -> list[Candidates]:
    """``row_candidates`` of every row of ``rows``: the rows' streams seeded and stepped together
    (``streams.Streams``), their first ``MAX_ATTEMPTS`` draws picked with numpy and each combination's title
    worked out once; the same values as row by row, several times faster."""
    from datagen.synth.streams import Streams

    cp = compiled(profile)
    vec = _VECTORISED.get(profile.fingerprint)
    if vec is None:
        vec = _VECTORISED[profile.fingerprint] = _Vectorised(cp)
    n, kinds = len(rows), len(OPTION_KINDS)
    indices = np.arange(rows.start, rows.stop, dtype=np.int64)
    streams = Streams(seed, indices)
    first = streams.random(1)[:, 0]
    u = streams.random(MAX_ATTEMPTS * (kinds + 1)).reshape(n, MAX_ATTEMPTS, kinds + 1)
    entries = vec.entry_ids[_pick(vec.entry_cum, len(vec.entry_ids), first)]
    pos = np.empty((n, MAX_ATTEMPTS, kinds + 1), dtype=np.int64)
    material = np.empty((n, MAX_ATTEMPTS), dtype=np.int64)
    m_kind = OPTION_KINDS.index("material")
    for e in np.unique(entries).tolist():
        sel = np.nonzero(entries == e)[0]
        for k, (cum, count) in enumerate(vec.kinds[e]):
            pos[sel, :, k] = _pick(cum, count, u[sel, :, k])
        material[sel] = vec.material_ids[e][pos[sel, :, m_kind]]
    for m in np.unique(material).tolist():
        sel = material == m
        pos[:, :, kinds][sel] = _pick(*vec.colours[m], u[:, :, kinds][sel])
    codes = product_codes(indices, seed, profile.product_code_min, profile.product_code_max).tolist()
    if len(vec.memo) > _MEMO_LIMIT:
        vec.memo.clear()
    out: list[Candidates] = []
    for j, (entry_index, draws) in enumerate(zip(entries.tolist(), pos.tolist(), strict=True)):
        keys = []
        for draw in draws:
            combo = (entry_index, *draw)
            key = vec.memo.get(combo)
            if key is None:
                attrs = attrs_at(cp, entry_index, draw[:kinds], draw[kinds])
                title = build_title(attrs, profile.taxonomy[entry_index], profile)
                key = vec.memo[combo] = _key(title, profile)
            keys.append(key)
        if any(_usable(k, profile) for k in keys):
            out.append((entry_index, codes[j], keys))
        else:  # no title of good length in the first draws (rare): draw on, row by row
            out.append(row_candidates(profile, seed, rows.start + j))
    return out


class _TitleSet:
    """A set of non-zero 64-bit keys in one numpy array (open addressing, grown as it fills)."""

    def __init__(self) -> None:
        self._table = np.zeros(1 << 12, dtype=np.uint64)
        self._size = 0

    def _slot(self, key: int) -> int:
        table, mask = self._table, len(self._table) - 1
        slot = key & mask
        while True:
            found = int(table[slot])
            if found == 0 or found == key:
                return slot
            slot = (slot + 1) & mask

    def __contains__(self, key: int) -> bool:
        return int(self._table[self._slot(key)]) == key

    def add(self, key: int) -> None:
        slot = self._slot(key)
        if int(self._table[slot]) == key:
            return
        self._table[slot] = key
        self._size += 1
        if 2 * self._size > len(self._table):
            old = self._table[self._table != 0]
            self._table = np.zeros(2 * len(self._table), dtype=np.uint64)
            for k in old.tolist():
                self._table[self._slot(k)] = k


def _choose(keys: list[int], seen: _TitleSet, exclude_source: bool) -> int | None:
    """The draw a row keeps (1-based): the first new title that is no source title; after ``MAX_ATTEMPTS``
    draws, the first repeated title, else (unless ``exclude_source``) the first source title; None if
    ``keys`` hold no title it may keep."""
    fallback = source_fallback = None
    for n, key in enumerate(keys, 1):
        if key > 0 and key not in seen:
            return n
        if fallback is None and key > 0:
            fallback = n
        if source_fallback is None and key < 0 and not exclude_source:
            source_fallback = n
        if n >= MAX_ATTEMPTS and (fallback or source_fallback) is not None:
            return fallback or source_fallback
    return None


@dataclass
class RowPlan:
    """What the plan decided for every row: code, taxonomy entry and number of attribute draws."""

    codes: np.ndarray  # int64
    entries: np.ndarray  # int32, index into the profile's taxonomy
    attempts: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.codes)

    def category3(self, profile: CatalogueProfile) -> np.ndarray:
        """Each row's category3_code (the split's stratum), as an object array of shared strings."""
        names = np.array([e.category3 for e in profile.taxonomy], dtype=object)
        return names[self.entries]


def plan_rows(
    profile: CatalogueProfile,
    seed: int,
    rows: int,
    map_chunks: Callable[[list[range]], Iterable[list[Candidates]]] | None = None,
) -> RowPlan:
    """Decide every row's product code, entry and title draw, making titles unique where possible.

    ``map_chunks`` maps a list of row ranges to their ``chunk_candidates``, in order (a process pool);
    without it they are computed here.

    Raises:
        UserError: more rows than distinct product codes in the profile's range, or a profile entry that
            cannot make a title of the allowed length.
    """
    domain = profile.product_code_max - profile.product_code_min + 1
    if rows > domain:
        raise UserError(f"--rows {rows} exceeds the {domain} distinct product codes of the profile")
    chunks = [range(a, min(rows, a + PLAN_CHUNK)) for a in range(0, rows, PLAN_CHUNK)]
    if map_chunks is None:
        results: Iterable[list[Candidates]] = (chunk_candidates(profile, seed, c) for c in chunks)
    else:
        results = map_chunks(chunks)
    codes = np.empty(rows, dtype=np.int64)
    entries = np.empty(rows, dtype=np.int32)
    attempts = np.empty(rows, dtype=np.uint8)
    seen = _TitleSet()
    index = 0
    for chunk in results:
        for entry_index, code, keys in chunk:
            n = _choose(keys, seen, profile.excludes_source_titles)
            if n is None:
                unless = " other than a source title" if profile.excludes_source_titles else ""
                raise UserError(
                    f"profile entry {profile.entry_key(entry_index)} cannot make a title of "
                    f"{TITLE_MIN}-{TITLE_MAX} chars{unless}"
                )
            seen.add(abs(keys[n - 1]))
            codes[index], entries[index], attempts[index] = code, entry_index, n
            index += 1
    return RowPlan(codes, entries, attempts)
