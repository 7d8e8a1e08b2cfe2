"""``CatalogueProfile``: everything synthesis needs about a catalogue, as explicit, validated, JSON-able data.

The built-in US profile (``builtin_profile()``) is one instance; ``datagen fit`` can write another from real
data, and ``datagen synth --profile profile.json`` loads it. The format (all keys required unless marked):

    name, description                      free text (description optional)
    website_name, competence_date, country_code, currency_code, brand       constant columns
    eur_rate                               full_price_eur = round(full_price * eur_rate, 2)
    item_url_prefix                        itemurl = prefix + slug(title) + "-p" + product_code
    image_url_prefix                       imageurl = prefix + UUID
    image_url_placeholder, image_url_placeholder_rate     e.g. "N.A." in 0.3% of rows
    product_code_min, product_code_max     unique codes drawn in this closed range
    price_min, price_max                   global clip of full_price
    price_noise                            bounded multiplicative noise: price * U(1 - x, 1 + x)
    taxonomy: list of entries
        category1, category2, category3    the three codes ("N.A." where there is no subcategory)
        noun                               the product noun ending the title ("Trench Coat"; may be "")
        silhouette                         one of datagen.catalogue.shapes.SILHOUETTES (the drawn shape)
        weight                             relative frequency (> 0)
        price: {median, sigma, min, max}   log-normal shape of full_price within the entry (USD)
        options: {size, line, pattern, material, trim, detail}: {vocabulary name or "": weight}
        title_colour                       optional bool: append "in <Colour>" to the title
    connectors                             optional {trim, colour}: the words before a trim and a colour
                                           in titles (default {"trim": "and", "colour": "in"})
    source_titles                          optional {salt, digests, exclude} (written by `datagen fit`):
                                           salted sha256 digests (16 hex) of the source's titles, case and
                                           spacing folded; synthesis treats them as titles already taken
                                           (redrawn where the entry allows), and with ``exclude`` true
                                           (`fit --no-copies`) never keeps one
    holdout                                optional {fraction, seed, source, fit_rows, fit_codes_sha256,
                                           product_codes} (written by `datagen fit`): the source rows the
                                           fit kept out, found again by `datagen compare`
    vocabulary:
        colours:   {name: [r, g, b]}
        sizes:     {name: {scale, length, price_mult, position: front|end|none}}
        lines:     {name: {emblem (render_shapes.EMBLEMS), price_mult, position: front|noun, colour (opt.)}}
        patterns:  {name: {kind (render_shapes.PATTERN_KINDS), price_mult, colour (optional: forced colour)}}
        materials: {name: {texture (render_shapes.TEXTURES), price_mult, colours: [colour names]}}
        trims:     {name: {colour, price_mult}}
        details:   {name: {kind (render_shapes.DETAIL_KINDS), price_mult, position: front|noun}}

``from_dict`` raises ``UserError`` naming the first problem, so a hand-edited or fitted profile fails early.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contracts.errors import UserError
from datagen.catalogue.provenance import (
    check_holdout,
    check_source_titles,
    require,
    title_digest,
    typed_value,
)
from datagen.catalogue.shapes import DETAIL_KINDS, EMBLEMS, PATTERN_KINDS, SILHOUETTES, TEXTURES

OPTION_KINDS: tuple[str, ...] = ("size", "line", "pattern", "material", "trim", "detail")
DEFAULT_CONNECTORS = {"trim": "and", "colour": "in"}  # "Cotton and Leather Sneakers in Black"
# option kind -> vocabulary section its names refer to ("" means "none"; for materials it is a real entry)
OPTION_SECTIONS = {
    "size": "sizes",
    "line": "lines",
    "pattern": "patterns",
    "material": "materials",
    "trim": "trims",
    "detail": "details",
}
_VOCAB_FIELDS = {
    "sizes": {"scale": float, "length": float, "price_mult": float, "position": ("front", "end", "none")},
    "lines": {"emblem": EMBLEMS, "price_mult": float, "position": ("front", "noun")},
    "patterns": {"kind": PATTERN_KINDS, "price_mult": float},
    "materials": {"texture": TEXTURES, "price_mult": float, "colours": list},
    "trims": {"colour": str, "price_mult": float},
    "details": {"kind": DETAIL_KINDS, "price_mult": float, "position": ("front", "noun")},
}


@dataclass(frozen=True)
class PriceParams:
    """Log-normal shape of full_price within one taxonomy entry, clipped to [min, max]."""

    median: float
    sigma: float
    min: float
    max: float


@dataclass(frozen=True)
class TaxonomyEntry:
    """One product type: its three category codes, title noun, drawn silhouette, weight, price and options."""

    category1: str
    category2: str
    category3: str
    noun: str
    silhouette: str
    weight: float
    price: PriceParams
    options: dict[str, dict[str, float]]
    title_colour: bool = False


@dataclass(frozen=True)
class CatalogueProfile:
    """A whole catalogue: constant columns, URL forms, code and price ranges, taxonomy and vocabulary."""

    name: str
    website_name: str
    competence_date: str
    country_code: str
    currency_code: str
    brand: str
    eur_rate: float
    item_url_prefix: str
    image_url_prefix: str
    image_url_placeholder: str
    image_url_placeholder_rate: float
    product_code_min: int
    product_code_max: int
    price_min: float
    price_max: float
    price_noise: float
    taxonomy: tuple[TaxonomyEntry, ...]
    vocabulary: dict[str, dict]
    description: str = ""
    connectors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CONNECTORS))
    source_titles: dict | None = None
    holdout: dict | None = None
    _fingerprint: str = field(default="", compare=False, repr=False)
    _source_digests: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    # serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict; ``from_dict(to_dict())`` round-trips. Default connectors are left out, so
        profiles written before they existed keep their fingerprint."""
        out = asdict(self)
        out.pop("_fingerprint")
        out.pop("_source_digests")
        if out["connectors"] == DEFAULT_CONNECTORS:
            out.pop("connectors")
        for key in ("source_titles", "holdout"):
            if out[key] is None:
                out.pop(key)
        out["taxonomy"] = [asdict(e) for e in self.taxonomy]
        return out

    @classmethod
    def from_dict(cls, data: dict, source: str = "profile") -> CatalogueProfile:
        """Validate ``data`` and build a profile. Raises ``UserError`` naming the first problem."""
        return _build(copy.deepcopy(data), source)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> CatalogueProfile:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"no such profile file: {path} (pass an existing --profile JSON file)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read profile {path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"profile {path} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise UserError(f"profile {path} must hold a JSON object")
        return cls.from_dict(data, source=f"profile {path}")

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical JSON: identifies the profile in dataset cards."""
        return self._fingerprint

    def is_source_title(self, title: str) -> bool:
        """Whether ``title`` (case and spacing folded) is one of the source's titles (``source_titles``)."""
        if not self._source_digests:
            return False
        return title_digest(title, self.source_titles["salt"]) in self._source_digests  # type: ignore[index]

    @property
    def excludes_source_titles(self) -> bool:
        """True when synthesis must never keep a source title (`datagen fit --no-copies`)."""
        return bool(self.source_titles and self.source_titles["exclude"])

    def entry_key(self, index: int) -> str:
        e = self.taxonomy[index]
        return f"{e.category1}/{e.category2}/{e.category3}/{e.noun or e.silhouette}"


def builtin_profile() -> CatalogueProfile:
    """The built-in US profile (``datagen.catalogue.us.US_PROFILE``), validated."""
    from datagen.catalogue.us import US_PROFILE

    return CatalogueProfile.from_dict(US_PROFILE, source="built-in profile")


# validation
_TOP = {
    "name": str,
    "website_name": str,
    "competence_date": str,
    "country_code": str,
    "currency_code": str,
    "brand": str,
    "eur_rate": float,
    "item_url_prefix": str,
    "image_url_prefix": str,
    "image_url_placeholder": str,
    "image_url_placeholder_rate": float,
    "product_code_min": int,
    "product_code_max": int,
    "price_min": float,
    "price_max": float,
    "price_noise": float,
}


def _build(data: dict, source: str) -> CatalogueProfile:
    require(isinstance(data, dict), source, "top level", "must be a JSON object")
    top = {}
    for key, kind in _TOP.items():
        require(key in data, source, f"key {key!r}", "is missing")
        top[key] = typed_value(data[key], kind, source, key)
    require(0 < top["eur_rate"], source, "eur_rate", "must be > 0")
    require(
        0 <= top["image_url_placeholder_rate"] <= 1, source, "image_url_placeholder_rate", "must be in [0, 1]"
    )
    require(
        0 < top["product_code_min"] <= top["product_code_max"],
        source,
        "product_code_min/max",
        "must be 0 < min <= max",
    )
    require(0 < top["price_min"] <= top["price_max"], source, "price_min/max", "must be 0 < min <= max")
    require(0 <= top["price_noise"] < 0.5, source, "price_noise", "must be in [0, 0.5)")

    vocab_in = data.get("vocabulary")
    require(isinstance(vocab_in, dict), source, "vocabulary", "must be an object")
    colours = vocab_in.get("colours")
    require(isinstance(colours, dict) and colours, source, "vocabulary.colours", "must be a non-empty object")
    for name, rgb in colours.items():
        ok = (
            isinstance(rgb, list) and len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb)
        )
        require(ok, source, f"vocabulary.colours[{name!r}]", "must be [r, g, b] with integers 0-255")
    vocab: dict[str, dict] = {"colours": colours}
    for section, fields in _VOCAB_FIELDS.items():
        items = vocab_in.get(section)
        require(isinstance(items, dict), source, f"vocabulary.{section}", "must be an object")
        clean = {}
        for name, spec in items.items():
            where = f"vocabulary.{section}[{name!r}]"
            require(isinstance(spec, dict), source, where, "must be an object")
            require(name != "" or section == "materials", source, where, "'' is reserved for 'none'")
            item = {}
            for key, kind in fields.items():
                require(key in spec, source, f"{where}.{key}", "is missing")
                item[key] = typed_value(spec[key], kind, source, f"{where}.{key}")
            if "price_mult" in item:
                require(item["price_mult"] > 0, source, f"{where}.price_mult", "must be > 0")
            if section == "sizes":
                ok = 0 < item["scale"] <= 1.2 and 0 < item["length"] <= 1.2
                require(ok, source, where, "scale and length must be in (0, 1.2]")
            if section == "materials":
                for c in item["colours"]:
                    require(c in colours, source, f"{where}.colours", f"names unknown colour {c!r}")
            if section in ("patterns", "lines") and "colour" in spec:
                item["colour"] = typed_value(spec["colour"], str, source, f"{where}.colour")
                require(
                    item["colour"] in colours,
                    source,
                    f"{where}.colour",
                    f"names unknown colour {item['colour']!r}",
                )
            if section == "trims":
                require(
                    item["colour"] in colours,
                    source,
                    f"{where}.colour",
                    f"names unknown colour {item['colour']!r}",
                )
            clean[name] = item
        vocab[section] = clean

    taxonomy_in = data.get("taxonomy")
    require(isinstance(taxonomy_in, list) and taxonomy_in, source, "taxonomy", "must be a non-empty list")
    entries = []
    for i, e in enumerate(taxonomy_in):
        where = f"taxonomy[{i}]"
        require(isinstance(e, dict), source, where, "must be an object")
        for key in ("category1", "category2", "category3", "noun", "silhouette"):
            require(isinstance(e.get(key), str), source, f"{where}.{key}", "must be a string")
        for key in ("category1", "category2", "category3"):
            require(e[key].strip() != "", source, f"{where}.{key}", "must not be empty")
        require(
            e["silhouette"] in SILHOUETTES,
            source,
            f"{where}.silhouette",
            f"{e['silhouette']!r} is unknown; choose one of {', '.join(SILHOUETTES)}",
        )
        weight = typed_value(e.get("weight"), float, source, f"{where}.weight")
        require(weight > 0, source, f"{where}.weight", "must be > 0")
        price = e.get("price")
        require(
            isinstance(price, dict), source, f"{where}.price", "must be an object {median, sigma, min, max}"
        )
        p = {
            k: typed_value(price.get(k), float, source, f"{where}.price.{k}")
            for k in ("median", "sigma", "min", "max")
        }
        require(
            p["median"] > 0 and p["sigma"] >= 0, source, f"{where}.price", "needs median > 0 and sigma >= 0"
        )
        require(
            0 < p["min"] <= p["median"] <= p["max"],
            source,
            f"{where}.price",
            "needs 0 < min <= median <= max",
        )
        options_in = e.get("options")
        require(isinstance(options_in, dict), source, f"{where}.options", "must be an object")
        options = {}
        for kind in OPTION_KINDS:
            opts = options_in.get(kind, {"": 1})
            owhere = f"{where}.options.{kind}"
            require(
                isinstance(opts, dict) and opts, source, owhere, "must be a non-empty object {name: weight}"
            )
            section = vocab[OPTION_SECTIONS[kind]]
            clean_opts = {}
            for name, w in opts.items():
                known = name in section or (name == "" and kind != "material")
                lacks = f"names {name!r}, which vocabulary.{OPTION_SECTIONS[kind]} lacks"
                require(known, source, owhere, lacks)
                clean_opts[name] = typed_value(w, float, source, f"{owhere}[{name!r}]")
                require(clean_opts[name] >= 0, source, f"{owhere}[{name!r}]", "must be >= 0")
            require(sum(clean_opts.values()) > 0, source, owhere, "needs a positive total weight")
            options[kind] = clean_opts
        title_colour = e.get("title_colour", False)
        require(isinstance(title_colour, bool), source, f"{where}.title_colour", "must be true or false")
        entries.append(
            TaxonomyEntry(
                category1=e["category1"],
                category2=e["category2"],
                category3=e["category3"],
                noun=e["noun"],
                silhouette=e["silhouette"],
                weight=weight,  # type: ignore[arg-type]
                price=PriceParams(**p),  # type: ignore[arg-type]
                options=options,
                title_colour=title_colour,
            )
        )

    description = data.get("description", "")
    require(isinstance(description, str), source, "description", "must be a string")
    connectors = data.get("connectors", DEFAULT_CONNECTORS)
    require(isinstance(connectors, dict), source, "connectors", "must be an object {trim, colour}")
    for key, word in connectors.items():
        require(key in DEFAULT_CONNECTORS, source, f"connectors.{key}", "is unknown; use trim or colour")
        ok = isinstance(word, str) and word.strip() != "" and len(word.split()) == 1
        require(ok, source, f"connectors.{key}", f"must be one word, got {word!r}")
    source_titles = check_source_titles(data.get("source_titles"), source)
    holdout = check_holdout(data.get("holdout"), source)
    profile = CatalogueProfile(
        **top,  # type: ignore[arg-type]
        taxonomy=tuple(entries),
        vocabulary=vocab,
        description=description,
        connectors={**DEFAULT_CONNECTORS, **connectors},
        source_titles=source_titles,
        holdout=holdout,
    )
    canonical = json.dumps(profile.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    object.__setattr__(profile, "_fingerprint", hashlib.sha256(canonical.encode()).hexdigest())
    if source_titles is not None:
        object.__setattr__(profile, "_source_digests", frozenset(source_titles["digests"]))
    return profile
