"""Which titles a fitted entry can write: the share of its drawn titles within the 8-71 characters synthesis
accepts, and the repairs that make an entry that cannot reach them write titles that can."""

from __future__ import annotations

import copy

import numpy as np

from datagen.catalogue.profile import OPTION_KINDS
from datagen.synth.sample import TITLE_MAX, TITLE_MIN

MIN_ODDS = 0.25  # synthesis redraws a title up to 200 times: at this share a row never runs out
_CAP = 160  # lengths at or above this are all "too long"


def _dist(weights: dict[str, float], width) -> np.ndarray:
    """Distribution of the characters one slot adds (its words plus one space each)."""
    out = np.zeros(_CAP)
    total = sum(weights.values())
    for name, w in weights.items():
        out[min(width(name), _CAP - 1)] += w / total
    return out


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = np.convolve(a, b)
    out = c[:_CAP].copy()
    out[-1] += c[_CAP:].sum()
    return out


def length_odds(entry: dict, vocabulary: dict, connectors: dict[str, str]) -> float:
    """The probability that ``entry`` (a profile taxonomy dict) draws a title of TITLE_MIN-TITLE_MAX chars.

    Exact for independent option draws; a trim equal to the material (dropped when drawn) counts as written.
    """
    options = entry["options"]

    def word(name: str) -> int:
        return len(name) + 1 if name else 0

    def size(name: str) -> int:
        printed = name and vocabulary["sizes"][name]["position"] != "none"
        return word(name) if printed else 0

    def trim(name: str) -> int:
        return word(name) + len(connectors["trim"]) + 1 if name else 0

    total = _dist(options["size"], size)
    for kind in ("line", "detail"):
        total = _add(total, _dist(options[kind], word))
    total = _add(total, _dist(options["trim"], trim))
    core = np.zeros(_CAP)  # pattern, material and the colour they decide
    pw = sum(options["pattern"].values())
    mw = sum(options["material"].values())
    for pattern, p in options["pattern"].items():
        for material, m in options["material"].items():
            forced = vocabulary["patterns"][pattern].get("colour") if pattern else None
            colours = [forced] if forced else vocabulary["materials"][material]["colours"]
            base = word(pattern) + word(material)
            for colour in colours:
                extra = len(connectors["colour"]) + len(colour) + 2 if entry.get("title_colour") else 0
                core[min(base + extra, _CAP - 1)] += (p / pw) * (m / mw) / len(colours)
    total = _add(total, core)
    noun = word(entry["noun"])
    lengths = np.arange(_CAP) + noun - 1  # title length: the words and their spaces, less one space
    ok = (lengths >= TITLE_MIN) & (lengths <= TITLE_MAX) & (np.arange(_CAP) < _CAP - 1)
    return float(total[ok].sum())


def _edits(entry: dict) -> list[dict]:
    """Entries one step nearer a valid title: an empty option gone, the longest word gone, no colour."""
    out = []
    for kind in OPTION_KINDS:
        opts = entry["options"][kind]
        named = [n for n in opts if n]
        if "" in opts and named:
            e = copy.deepcopy(entry)
            del e["options"][kind][""]
            out.append(e)
        if len(opts) > 1 and named:
            e = copy.deepcopy(entry)
            del e["options"][kind][max(named, key=lambda n: (len(n), n))]
            out.append(e)
    if entry.get("title_colour"):
        out.append({**copy.deepcopy(entry), "title_colour": False})
    return out


def repair(entry: dict, vocabulary: dict, connectors: dict[str, str]) -> dict | None:
    """``entry`` with options dropped until MIN_ODDS of its titles fit, or None if none can (pure)."""
    odds = length_odds(entry, vocabulary, connectors)
    while odds < MIN_ODDS:
        scored = [(length_odds(e, vocabulary, connectors), i, e) for i, e in enumerate(_edits(entry))]
        if not scored:
            return None
        best_odds, _, best = max(scored, key=lambda t: (t[0], -t[1]))
        if best_odds <= odds:
            return None
        entry, odds = best, best_odds
    return entry
