"""Title grammar: every word is a deterministic function of visible attributes (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from datagen.catalogue.profile import CatalogueProfile, TaxonomyEntry


def build_title(attrs: Mapping[str, str], entry: TaxonomyEntry, profile: CatalogueProfile) -> str:
    """Assemble a title in the catalogue's style from the row's attributes.

    Word order: [size] [detail] [logo line] [pattern] [material] [and trim] [detail] [model line] noun
    [ml size] [in colour]; where each word goes is set in the vocabulary (``position``), the words before a
    trim and a colour in the profile (``connectors``). Examples: "Long Kensington Heritage Trench Coat",
    "House Check Cotton and Leather Sneakers", "Goddess Eau de Parfum 100ml".
    """
    vocab = profile.vocabulary
    size = vocab["sizes"].get(attrs["size"]) if attrs["size"] else None
    line = vocab["lines"].get(attrs["line"]) if attrs["line"] else None
    detail = vocab["details"].get(attrs["detail"]) if attrs["detail"] else None
    words: list[str] = []
    if size and size["position"] == "front":
        words.append(attrs["size"])
    if detail and detail["position"] == "front":
        words.append(attrs["detail"])
    if line and line["position"] == "front":
        words.append(attrs["line"])
    words += [attrs["pattern"], attrs["material"]]
    if attrs["trim"]:
        words += [profile.connectors["trim"], attrs["trim"]]
    if detail and detail["position"] == "noun":
        words.append(attrs["detail"])
    if line and line["position"] == "noun":
        words.append(attrs["line"])
    words.append(entry.noun)
    if size and size["position"] == "end":
        words.append(attrs["size"])
    if entry.title_colour:
        words += [profile.connectors["colour"], attrs["colour"]]
    return " ".join(w for w in words if w)
