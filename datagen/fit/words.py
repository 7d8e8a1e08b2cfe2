"""Vocabulary entries for the words a fit learned: a phrase extending a built-in word looks like that word
("Stretch Cotton" like "Cotton"); any other word gets a look chosen by hashing its name, so the same word is
drawn the same way in every image and every fit."""

from __future__ import annotations

import copy
import zlib

from datagen.catalogue.shapes import DETAIL_KINDS, EMBLEMS, PATTERN_KINDS, TEXTURES

SIZE_SCALES = (1.0, 0.9, 0.8, 0.7)  # visible sizes of a learned size word
MATERIAL_COLOURS = 3  # colours a learned material comes in


def _hash(name: str, salt: str = "") -> int:
    return zlib.crc32(f"{salt}\0{name}".encode())


def _pick(options: list[str] | tuple[str, ...], name: str, salt: str) -> str:
    return options[_hash(name, salt) % len(options)]


def colour_rgb(name: str) -> list[int]:
    """A colour for a learned colour word: mid-range channels, so the product stays visible."""
    h = _hash(name, "rgb")
    return [40 + (h >> shift) % 180 for shift in (0, 8, 16)]


def word_spec(
    section: str, name: str, position: str, base: tuple[str, str] | None, vocabulary: dict, mult: float
) -> dict:
    """The vocabulary entry of a learned word of ``section`` (pure); ``base``: a built-in word it extends."""
    if base is not None and base[1] in vocabulary[base[0]] and base[0] == section:
        spec = copy.deepcopy(vocabulary[base[0]][base[1]])
    elif section == "sizes":
        spec = {"scale": SIZE_SCALES[_hash(name, section) % len(SIZE_SCALES)], "length": 1.0}
    elif section == "lines":
        spec = {"emblem": _pick(EMBLEMS, name, section)}
    elif section == "details":
        spec = {"kind": _pick(DETAIL_KINDS, name, section)}
    elif section == "patterns":
        spec = {"kind": _pick(PATTERN_KINDS, name, section)}
    elif section == "materials":
        colours = sorted(vocabulary["colours"])
        start = _hash(name, "colours")
        picks = [colours[(start + k * 7) % len(colours)] for k in range(MATERIAL_COLOURS)]
        spec = {"texture": _pick(TEXTURES, name, section), "colours": sorted(set(picks))}
    elif section == "trims":
        spec = {"colour": _pick(sorted(vocabulary["colours"]), name, section)}
    else:
        raise ValueError(f"no learned words in vocabulary section {section!r}")
    spec["price_mult"] = mult
    if section in ("sizes", "lines", "details"):
        spec["position"] = position or "front"
    return spec
