"""Keeping a fitted profile from handing its source's titles back.

A catalogue rarely gives two products one title, so a fresh sample of it shares few titles with the rows a
fit saw; a profile sampled freely would repeat them about as often as its option space makes them likely
(a fifth of the rows on a half of our generator's 3,040). ``guard_titles`` therefore:

- stores salted digests of every source title (``datagen.catalogue.provenance``), which synthesis treats as
  titles already taken: it redraws such a row as it redraws a repeated one, and keeps a source title only
  when the entry's options leave nothing else, or never (``exclude``: `datagen fit --no-copies`);
- widens an entry whose draws are almost all source titles (``MIN_NEW_SHARE``), lending it the options of
  the entries of its category2, then of its category1, then of the whole catalogue, one row's worth at a
  time: a product type seen a few times with one title should not be a copy machine.

The share of new titles is exact: an entry's option combinations are enumerated (up to ``MAX_COMBINATIONS``;
larger spaces are not short of new titles) and each title built as synthesis builds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from contracts.errors import UserError
from datagen.catalogue.profile import OPTION_KINDS, CatalogueProfile, TaxonomyEntry
from datagen.catalogue.provenance import title_digest, title_key
from datagen.synth.sample import TITLE_MAX, TITLE_MIN
from datagen.synth.titles import build_title

MIN_NEW_SHARE = 0.05  # an entry whose draws are a new title less often than this is widened
MAX_COMBINATIONS = 20_000  # enumerate up to this many option combinations per entry
LEND_ROWS = 1.0  # each widening step lends this many rows' worth of the donors' options


def _weights(options: dict[str, float]) -> list[tuple[str, float]]:
    total = sum(w for w in options.values() if w > 0)
    return [(n, w / total) for n, w in options.items() if w > 0]


def new_title_share(profile: CatalogueProfile, entry: TaxonomyEntry, taken: set[str]) -> float | None:
    """Probability that one draw of ``entry`` is a title of 8-71 characters not in ``taken`` (title keys).

    None when the entry has more than ``MAX_COMBINATIONS`` option combinations (it is not short of titles).
    """
    kinds = [_weights(entry.options[k]) for k in OPTION_KINDS]
    size = 1
    for k in kinds:
        size *= len(k)
    if size > MAX_COMBINATIONS:
        return None
    vocab = profile.vocabulary
    share = 0.0
    for combo in itertools.product(*kinds):
        attrs = {kind: name for kind, (name, _) in zip(OPTION_KINDS, combo, strict=True)}
        p = 1.0
        for _, w in combo:
            p *= w
        if attrs["trim"] and attrs["trim"] == attrs["material"]:
            attrs["trim"] = ""
        forced = vocab["patterns"].get(attrs["pattern"], {}).get("colour") if attrs["pattern"] else None
        colours = [forced] if forced else list(vocab["materials"][attrs["material"]]["colours"])
        if not entry.title_colour:
            colours = colours[:1]  # the colour is not in the title
        for colour in colours:
            title = build_title({**attrs, "colour": colour}, entry, profile)
            if TITLE_MIN <= len(title) <= TITLE_MAX and title_key(title) not in taken:
                share += p / len(colours)
    return share


def _lend(entry: dict, donors: list[dict]) -> None:
    """Add ``LEND_ROWS`` rows' worth of the donors' option shares to ``entry``'s options (in place)."""
    for kind in OPTION_KINDS:
        pooled: dict[str, float] = {}
        for d in donors:
            total = sum(d["options"][kind].values())
            for name, w in d["options"][kind].items():
                pooled[name] = pooled.get(name, 0.0) + w / total
        pooled_total = sum(pooled.values())
        own = entry["options"][kind]  # counts of rows, so one row's worth is a total weight of 1
        for name, w in pooled.items():
            own[name] = round(own.get(name, 0.0) + LEND_ROWS * w / pooled_total, 4)
        entry["options"][kind] = dict(sorted(own.items()))


def guard_titles(
    profile: CatalogueProfile, titles: Iterable[str], salt: str, exclude: bool = False
) -> tuple[CatalogueProfile, list[str]]:
    """``profile`` with the digests of ``titles``, its near-copy entries widened (see the module docstring).

    Returns:
        ``(profile, widened)``: the guarded profile and the entries widened, as ``entry_key`` strings.

    Raises:
        UserError: ``exclude`` and an entry cannot draw any title but a source one, even widened.
    """
    titles = list(titles)
    taken = {title_key(t) for t in titles}
    data = profile.to_dict()
    data["source_titles"] = {
        "salt": salt,
        "digests": sorted({title_digest(t, salt) for t in titles}),
        "exclude": bool(exclude),
    }
    entries = data["taxonomy"]
    widened = []
    for i, entry in enumerate(profile.taxonomy):
        share = new_title_share(profile, entry, taken)
        if share is None or share >= MIN_NEW_SHARE:
            continue
        widened.append(profile.entry_key(i))
        cats = (entry.category1, entry.category2)
        for level in (2, 1, 0):
            donors = [e for j, e in enumerate(entries) if j != i and (e["category1"], e["category2"])[:level]
                      == cats[:level]]  # fmt: skip
            if not donors:
                continue
            _lend(entries[i], donors)
            trial = CatalogueProfile.from_dict(data, source="fitted profile")
            share = new_title_share(trial, trial.taxonomy[i], taken)
            if share is None or share >= MIN_NEW_SHARE:
                break
        if exclude and (share is not None and share <= 0.0):
            raise UserError(
                f"--no-copies: the titles of {profile.entry_key(i)} can only repeat source titles, even with "
                "the options of the whole catalogue; fit without --no-copies"
            )
    return CatalogueProfile.from_dict(data, source="fitted profile"), widened
