"""`datagen fit`: learn a ``CatalogueProfile`` from a dataset, so `datagen synth --profile` mimics it.

What is learned, and how:

- **constants**: the most frequent website, date, country and brand; that country's rows give the currency,
  the EUR rate (the median of ``full_price_eur / full_price``, 4 decimals) and the itemurl prefix (before the
  slug), so a mix of countries gets one coherent site; the imageurl prefix (before the last ``/``), the
  share of non-URL imageurls and their placeholder (``N.A.``);
- **titles**: the catalogue's own title grammar (``datagen.fit.grammar``): each title read into the slots
  synthesis writes (size, detail, line, pattern, material, trim, noun, colour), with the built-in vocabulary
  where it knows a phrase and the catalogue's own words, phrases, nouns and connectors where it does not;
- **taxonomy**: one entry per (category1, category2, category3, noun), weighted by its rows; its options are
  the counts of each word in its titles, plus one row's worth borrowed from the other entries of its noun;
  its silhouette comes from the noun's built-in entry, else from keyword rules over category3, noun,
  category2 and category1 in several languages, with a per-category fallback;
- **prices**: per entry a log-normal (median, sigma of log price shrunk towards the catalogue's for small
  entries) and the observed min/max; each word's ``price_mult`` is the exp of the shrunk mean log-price
  residual of the rows that name it, so synthetic prices depend on visible attributes as the real ones do;
- **title lengths**: an entry that cannot draw titles of 8-71 characters often enough drops the options that
  keep it out (``datagen.fit.lengths``), else joins an entry of its categories or takes another's words.

``fit_table`` is pure (a DataFrame in, a validated profile out); ``fit_profile`` reads a dataset dir or file;
`datagen fit` itself (a holdout kept out, the source titles guarded, the file written) is ``datagen.fit.run``.
"""

from __future__ import annotations

import copy
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset.schema import NOT_AVAILABLE
from contracts.errors import UserError
from datagen.catalogue.profile import DEFAULT_CONNECTORS, OPTION_KINDS, CatalogueProfile, builtin_profile
from datagen.fit.grammar import learn_grammar
from datagen.fit.lengths import repair
from datagen.fit.silhouettes import FALLBACK_SILHOUETTE, for_kids, silhouette_for
from datagen.fit.titles import VOCAB_KINDS, Lexicon
from datagen.fit.words import colour_rgb, word_spec
from datagen.stats import most_frequent, read_table
from datagen.words import quantity

MIN_CODE_DOMAIN = 1_000_000  # synth draws unique codes from the range: leave room for more rows than seen
SIGMA_PRIOR_ROWS = 3.0  # small entries borrow this many rows' worth of the catalogue-wide sigma
MULT_PRIOR_ROWS = 2.0  # a word's price multiplier is shrunk towards 1 by this many rows
POOL_ROWS = 1.0  # an entry borrows this many rows' worth of options from the other entries of its noun
MAX_PALETTE = 4  # colours of a material named in titles without colours of its own


# -- fitting ------------------------------------------------------------------------------------------------
def _mode(series: pd.Series) -> str:
    return most_frequent(series) or ""


def _url_prefixes(df: pd.DataFrame, home: pd.DataFrame) -> tuple[str, str, str, float]:
    """The item URL prefix of the ``home`` rows; the image URL prefix, placeholder and its share of all."""
    item = []
    for url, code in zip(home["itemurl"].astype(str), home["product_code"], strict=True):
        head = re.sub(rf"-p{int(code)}$", "", url)
        item.append(head.rsplit("/", 1)[0] + "/" if "/" in head else "")
    images = df["imageurl"].astype(str)
    is_url = images.str.match(r"https?://")
    image_prefix = _mode(images[is_url].map(lambda u: u.rsplit("/", 1)[0] + "/")) if is_url.any() else ""
    placeholder = _mode(images[~is_url]) if (~is_url).any() else NOT_AVAILABLE
    return _mode(pd.Series(item)), image_prefix, placeholder, float((~is_url).mean())


def _shrunk_mult(residuals: list[float]) -> float:
    mult = math.exp(sum(residuals) / (len(residuals) + MULT_PRIOR_ROWS))
    return float(round(min(max(mult, 0.2), 5.0), 4))


def _pool(entries: list[dict]) -> None:
    """Lend each entry one row's worth of the option shares of the other entries with its noun (in place)."""
    by_noun: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        if e["noun"]:
            by_noun[e["noun"]].append(e)
    counts = [{k: dict(e["options"][k]) for k in OPTION_KINDS} for e in entries]
    for e, own in zip(entries, counts, strict=True):
        others = [c for o, c in zip(entries, counts, strict=True) if o is not e and o["noun"] == e["noun"]]
        if not e["noun"] or not others:
            continue
        for kind in OPTION_KINDS:
            pooled: Counter[str] = Counter()
            for c in others:
                pooled.update(c[kind])
            total = sum(pooled.values())
            merged = Counter(own[kind])
            for name, n in pooled.items():
                merged[name] += POOL_ROWS * n / total
            e["options"][kind] = {n: round(w, 4) for n, w in sorted(merged.items())}


def _silhouette(noun: str, options: dict, cats: tuple[str, str, str], noun_shape: dict) -> tuple[str, str]:
    """The noun's built-in shape, else keywords in the categories and noun, else in the title's other words
    (most frequent first: "Goddess Eau de Parfum", "Foundation – 40 Light Cool")."""
    if noun and noun in noun_shape:
        return for_kids(noun_shape[noun], cats[0]), "noun"
    shape, decided_by = silhouette_for(*cats, noun)
    words = sorted(
        (
            (w, n)
            for kind in ("material", "line", "detail", "pattern", "size")
            for n, w in options[kind].items()
            if n
        ),
        key=lambda t: (-t[0], t[1]),
    )
    for _, word in words:
        if decided_by != "fallback":
            break
        shape, decided_by = silhouette_for(cats[0], NOT_AVAILABLE, NOT_AVAILABLE, word)
    return shape, decided_by


def _fit_lengths(entries: list[dict], vocabulary: dict, connectors: dict[str, str]) -> list[dict]:
    """Every entry able to write titles of 8-71 chars: repaired, merged into its categories, or given words.

    Raises:
        UserError: no entry can (the titles are too short or too long to learn from).
    """
    fixed = [repair(e, vocabulary, connectors) for e in entries]
    good = [e for e in fixed if e is not None]
    if not good:
        raise UserError("no title of 8-71 characters can be learned from these titles: fit a dataset whose "
                        "titles are 8-71 characters long")  # fmt: skip
    out = [e for e in fixed if e is not None]
    for e, f in zip(entries, fixed, strict=True):
        if f is not None:
            continue
        cats = (e["category1"], e["category2"], e["category3"])

        def closeness(d: dict, cats: tuple[str, str, str] = cats) -> tuple:
            same = [d["category1"] == cats[0], d["category2"] == cats[1], d["category3"] == cats[2]]
            return (all(same), same[0] and same[1], same[0], d["weight"], d["noun"])

        donor = max(good, key=closeness)
        if closeness(donor)[0]:  # an entry of the same categories takes its rows
            donor["weight"] += e["weight"]
            donor["price"]["min"] = min(donor["price"]["min"], e["price"]["min"])
            donor["price"]["max"] = max(donor["price"]["max"], e["price"]["max"])
        else:  # its categories and prices stay; its titles are written like the nearest entry's
            keep = {k: e[k] for k in ("category1", "category2", "category3", "weight", "price")}
            out.append({**copy.deepcopy(donor), **keep})
    merged: dict[tuple, dict] = {}  # two such entries of one category may have taken the same noun
    for e in out:
        key = (e["category1"], e["category2"], e["category3"], e["noun"])
        if key in merged:
            first = merged[key]
            first["weight"] += e["weight"]
            first["price"]["min"] = min(first["price"]["min"], e["price"]["min"])
            first["price"]["max"] = max(first["price"]["max"], e["price"]["max"])
        else:
            merged[key] = e
    return list(merged.values())


def _palettes(
    vocabulary: dict, entries: list[dict], colours_of: dict[str, Counter[str]], seen: set[str]
) -> None:
    """Materials named in titles with "in <colour>" come in the colours seen with them (``colours_of``, less
    the colours a pattern sets), patterns keep their colour only if the titles name it (``seen``): synthetic
    titles only name colours the source names (in place)."""
    if not any(e["title_colour"] for e in entries):
        return
    counts: Counter[str] = Counter()
    for c in colours_of.values():
        counts.update(c)
    common = sorted(c for c, _ in counts.most_common(MAX_PALETTE)) or sorted(seen)[:MAX_PALETTE]
    for material, spec in vocabulary["materials"].items():
        spec["colours"] = sorted(colours_of[material]) if colours_of.get(material) else common
    for spec in vocabulary["patterns"].values():
        if spec.get("colour") and spec["colour"] not in seen:
            del spec["colour"]


def fit_table(df: pd.DataFrame, name: str = "fit", source: str = "") -> CatalogueProfile:
    """Learn a profile from a table of the 17 DBQ columns; see the module docstring. Pure.

    Raises:
        UserError: the table has no rows with a positive price, or no title that synthesis could write.
    """
    base = builtin_profile()
    lexicon = Lexicon.from_profile(base)
    df = df[df["full_price"] > 0].reset_index(drop=True)
    if df.empty:
        raise UserError("no row with a positive full_price to fit: pass a dataset with prices")
    log_price = np.log(df["full_price"].to_numpy(dtype=float))
    group_cols = ["category1_code", "category2_code", "category3_code"]
    keys = [tuple(str(v) for v in row) for row in df[group_cols].itertuples(index=False)]
    grammar = learn_grammar(df["title"].astype(str).tolist(), keys, lexicon)
    parsed = grammar.parsed

    # Entries: one per (category triple, noun).
    entry_rows: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(parsed):
        entry_rows[(*keys[i], p.noun or "")].append(i)

    global_sigma = float(np.std(log_price, ddof=1)) if len(df) > 1 else 0.3
    residual_by_word: dict[tuple[str, str], list[float]] = defaultdict(list)
    colours_of: dict[str, Counter[str]] = defaultdict(Counter)
    entries = []
    noun_shape: dict[str, str] = {}
    for (
        e
    ) in base.taxonomy:  # the first entry of a noun is the adult one ("Sneakers": sneaker, not kids_sneaker)
        noun_shape.setdefault(e.noun, e.silhouette)
    for (cat1, cat2, cat3, noun), rows in sorted(entry_rows.items()):
        prices = df["full_price"].to_numpy(dtype=float)[rows]
        logs = log_price[rows]
        centre = float(np.median(logs))
        sd = float(np.std(logs, ddof=1)) if len(rows) > 1 else 0.0
        sigma = (len(rows) * sd + SIGMA_PRIOR_ROWS * global_sigma) / (len(rows) + SIGMA_PRIOR_ROWS)
        options: dict[str, Counter[str]] = {k: Counter() for k in OPTION_KINDS}
        colours = 0
        for i in rows:
            attrs = parsed[i].attrs
            for kind in options:
                options[kind][attrs.get(kind, "")] += 1
                if attrs.get(kind):
                    residual_by_word[(kind, attrs[kind])].append(float(log_price[i]) - centre)
            if parsed[i].colour is not None:
                colours += 1
                if not base.vocabulary["patterns"].get(attrs.get("pattern", ""), {}).get("colour"):
                    colours_of[attrs.get("material", "")][parsed[i].colour] += 1  # not a pattern's own colour
        entries.append(
            {
                "category1": cat1,
                "category2": cat2,
                "category3": cat3,
                "noun": noun,
                "silhouette": "",
                "weight": float(len(rows)),
                "price": {
                    "median": round(float(np.median(prices)), 2),
                    "sigma": round(sigma, 4),
                    "min": round(float(prices.min()), 2),
                    "max": round(float(prices.max()), 2),
                },
                "options": {k: dict(sorted(c.items())) for k, c in options.items()},
                "title_colour": colours >= 0.5 * len(rows),
            }
        )
    _pool(entries)
    fallbacks = []
    for e in entries:
        cats = (e["category1"], e["category2"], e["category3"])
        e["silhouette"], decided_by = _silhouette(e["noun"], e["options"], cats, noun_shape)
        if decided_by == "fallback":
            fallbacks.append("/".join(cats))

    vocabulary = copy.deepcopy(base.vocabulary)
    section_of = {**VOCAB_KINDS, "trim": "trims"}
    mults = {(section_of[k], w): _shrunk_mult(r) for (k, w), r in residual_by_word.items()}
    for (section, word), (position, like) in sorted(grammar.words.items()):
        if section == "colours":
            vocabulary["colours"].setdefault(word, colour_rgb(word))
        else:
            vocabulary[section][word] = word_spec(
                section, word, position, like, vocabulary, mults[(section, word)]
            )
    for (section, word), mult in mults.items():
        vocabulary[section][word]["price_mult"] = mult
    _palettes(vocabulary, entries, colours_of, {p.colour for p in parsed if p.colour is not None})
    entries = _fit_lengths(entries, vocabulary, grammar.connectors)

    # A mix of countries: the most frequent one's currency, EUR rate and site, so the constants agree.
    country = _mode(df["country_code"])
    home = df[df["country_code"].astype(str) == country]
    item_prefix, image_prefix, placeholder, placeholder_rate = _url_prefixes(df, home)
    codes = df["product_code"].astype(np.int64)
    code_min = int(codes.min())
    code_max = max(int(codes.max()), code_min + MIN_CODE_DOMAIN - 1)
    ratio = home["full_price_eur"].to_numpy(dtype=float) / home["full_price"].to_numpy(dtype=float)
    learned = sum(1 for section, _ in grammar.words if section != "colours")
    description = (
        f"Fitted by datagen fit from {source or 'a table'} ({quantity(len(df), 'row')}, "
        f"{quantity(len(entries), 'entry', 'entries')}, "
        f"{quantity(learned, 'title word')} learned)"
    )
    if fallbacks:
        description += f"; drawn as {FALLBACK_SILHOUETTE} for lack of a keyword: {', '.join(fallbacks)}"
    data = {
        "name": name,
        "description": description,
        "website_name": _mode(df["website_name"]),
        "competence_date": _mode(df["competence_date"]),
        "country_code": country,
        "currency_code": _mode(home["currency_code"]),
        "brand": _mode(df["brand"]),
        "eur_rate": round(float(np.median(ratio)), 4),
        "item_url_prefix": item_prefix,
        "image_url_prefix": image_prefix,
        "image_url_placeholder": placeholder,
        "image_url_placeholder_rate": round(placeholder_rate, 4),
        "product_code_min": code_min,
        "product_code_max": code_max,
        "price_min": round(float(df["full_price"].min()), 2),
        "price_max": round(float(df["full_price"].max()), 2),
        "price_noise": base.price_noise,
        "taxonomy": entries,
        "vocabulary": vocabulary,
    }
    if grammar.connectors != DEFAULT_CONNECTORS:
        data["connectors"] = grammar.connectors
    return CatalogueProfile.from_dict(data, source="fitted profile")


def fit_profile(data_dir: str | Path) -> CatalogueProfile:
    """Learn a profile from a DATASET dir (all splits) or a DBQ table file. See ``fit_table``.

    Raises:
        UserError: the path is not a readable dataset.
    """
    path = Path(data_dir)
    return fit_table(read_table(path), name=f"fit:{path.name}", source=str(path))
