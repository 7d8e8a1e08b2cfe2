"""`datagen fit`: learn a ``CatalogueProfile`` from a dataset, so `datagen synth --profile` mimics it.

What is learned, and how:

- **constants**: the most frequent website, date, country, currency and brand; the EUR rate as the median of
  ``full_price_eur / full_price`` (4 decimals); the URL prefixes of itemurl (before the slug) and imageurl
  (before the last ``/``); the share of non-URL imageurls and their placeholder (``N.A.``);
- **titles**: each title is parsed against the built-in vocabulary (sizes, lines, patterns, materials,
  trims after "and", details, "in <colour>", product nouns), longest phrase first, case-insensitive. Words
  it does not know become new *lines* (names drawn as an emblem), so a foreign catalogue's words survive;
  a category without a known noun learns one from its titles' common last words;
- **taxonomy**: one entry per (category1, category2, category3, noun), weighted by its rows; its options are
  the counts of each parsed word; its silhouette comes from the noun's built-in entry, else from keyword
  rules over category3, noun, category2 and category1 in several languages, with a per-category fallback;
- **prices**: per entry a log-normal (median, sigma of log price shrunk towards the catalogue's for small
  entries) and the observed min/max; each word's ``price_mult`` is the exp of the shrunk mean log-price
  residual of the rows that name it, so synthetic prices depend on visible attributes as the real ones do.

``fit_table`` is pure (a DataFrame in, a validated profile out); ``fit_profile`` reads a dataset dir or file.
"""

from __future__ import annotations

import copy
import json
import math
import re
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset.schema import NOT_AVAILABLE
from contracts.errors import UserError
from contracts.outputs import check_replaceable_file, claim_output, json_with_keys, write_files_atomically
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.catalogue.shapes import EMBLEMS
from datagen.config import FitConfig
from datagen.fit.silhouettes import FALLBACK_SILHOUETTE, for_kids, silhouette_for
from datagen.fit.titles import VOCAB_KINDS, Lexicon, ParsedTitle, learn_noun, parse_title
from datagen.stats import most_frequent, read_table

MIN_CODE_DOMAIN = 1_000_000  # synth draws unique codes from the range: leave room for more rows than seen
SIGMA_PRIOR_ROWS = 3.0  # small entries borrow this many rows' worth of the catalogue-wide sigma
MULT_PRIOR_ROWS = 2.0  # a word's price multiplier is shrunk towards 1 by this many rows
MAX_LINE_WORDS, MAX_LINE_CHARS = 3, 30


# -- fitting ------------------------------------------------------------------------------------------------
def _mode(series: pd.Series) -> str:
    return most_frequent(series) or ""


def _url_prefixes(df: pd.DataFrame) -> tuple[str, str, str, float]:
    item = []
    for url, code in zip(df["itemurl"].astype(str), df["product_code"], strict=True):
        head = re.sub(rf"-p{int(code)}$", "", url)
        item.append(head.rsplit("/", 1)[0] + "/" if "/" in head else "")
    images = df["imageurl"].astype(str)
    is_url = images.str.match(r"https?://")
    image_prefix = _mode(images[is_url].map(lambda u: u.rsplit("/", 1)[0] + "/")) if is_url.any() else ""
    placeholder = _mode(images[~is_url]) if (~is_url).any() else NOT_AVAILABLE
    return _mode(pd.Series(item)), image_prefix, placeholder, float((~is_url).mean())


def _line_spec(name: str, position: str, mult: float) -> dict:
    return {
        "emblem": EMBLEMS[zlib.crc32(name.encode("utf-8")) % len(EMBLEMS)],
        "price_mult": mult,
        "position": position,
    }


def _fallback_noun(category2: str, category3: str, materials: Counter[str]) -> str:
    """No noun learned: "" when a named material ends the titles (perfumes), else the category's name."""
    if materials and max(materials.items(), key=lambda kv: (kv[1], kv[0]))[0]:
        return ""
    return (category3 if category3 != NOT_AVAILABLE else category2).title()


def _shrunk_mult(residuals: list[float]) -> float:
    mult = math.exp(sum(residuals) / (len(residuals) + MULT_PRIOR_ROWS))
    return float(round(min(max(mult, 0.2), 5.0), 4))


def fit_table(df: pd.DataFrame, name: str = "fit", source: str = "") -> CatalogueProfile:
    """Learn a profile from a table of the 17 DBQ columns; see the module docstring. Pure.

    Raises:
        UserError: the table has no rows with a positive price (the profile would not validate).
    """
    base = builtin_profile()
    lexicon = Lexicon.from_profile(base)
    df = df[df["full_price"] > 0].reset_index(drop=True)
    log_price = np.log(df["full_price"].to_numpy(dtype=float))
    group_cols = ["category1_code", "category2_code", "category3_code"]

    # Nouns: known ones from the title, else one learned per category triple.
    learned_noun: dict[tuple[str, str, str], str] = {}
    parsed: list[ParsedTitle] = [parse_title(t, lexicon) for t in df["title"].astype(str)]
    for key, idx in df.groupby(group_cols, sort=True).indices.items():
        if sum(parsed[i].noun is not None for i in idx) < 0.5 * len(idx):
            learned_noun[key] = learn_noun([str(df["title"][i]) for i in idx], lexicon)
            for i in idx:
                if parsed[i].noun is None and learned_noun[key]:
                    parsed[i] = parse_title(str(df["title"][i]), lexicon, noun=learned_noun[key])

    # Unknown words become lines: a phrase seen twice, else the row's most frequent single word seen twice.
    phrase_counts = Counter(" ".join(p.unknown[:MAX_LINE_WORDS]) for p in parsed if p.unknown)
    word_counts = Counter(w for p in parsed for w in p.unknown)
    line_position: dict[str, Counter[str]] = defaultdict(Counter)
    for p in parsed:
        if not p.unknown or "line" in p.attrs:
            continue
        phrase = " ".join(p.unknown[:MAX_LINE_WORDS])
        if phrase_counts[phrase] < 2 or len(phrase) > MAX_LINE_CHARS:
            best = max(p.unknown, key=lambda w: (word_counts[w], w))
            phrase = best if word_counts[best] >= 2 and len(best) <= MAX_LINE_CHARS else ""
        if phrase:
            p.attrs["line"] = phrase
            line_position[phrase]["front" if p.unknown_first else "noun"] += 1

    # Entries: one per (category triple, noun).
    entry_rows: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(parsed):
        key = tuple(str(df[c][i]) for c in group_cols)
        noun = p.noun if p.noun is not None else learned_noun.get(key, "")  # type: ignore[arg-type]
        entry_rows[(*key, noun)].append(i)  # type: ignore[arg-type]

    global_sigma = float(np.std(log_price, ddof=1)) if len(df) > 1 else 0.3
    residual_by_word: dict[tuple[str, str], list[float]] = defaultdict(list)
    entries, fallbacks = [], []
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
        options: dict[str, Counter[str]] = {
            k: Counter() for k in ("size", "line", "pattern", "material", "trim", "detail")
        }
        colours = 0
        for i in rows:
            attrs = parsed[i].attrs
            for kind in options:
                options[kind][attrs.get(kind, "")] += 1
                if attrs.get(kind):
                    residual_by_word[(kind, attrs[kind])].append(float(log_price[i]) - centre)
            colours += parsed[i].colour is not None
        if noun in noun_shape:
            shape, decided_by = for_kids(noun_shape[noun], cat1), "noun"
        else:
            shape, decided_by = silhouette_for(cat1, cat2, cat3, noun)
        if decided_by == "fallback":
            fallbacks.append(f"{cat1}/{cat2}/{cat3}")
        entries.append(
            {
                "category1": cat1,
                "category2": cat2,
                "category3": cat3,
                "noun": noun or _fallback_noun(cat2, cat3, options["material"]),
                "silhouette": shape,
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

    vocabulary = copy.deepcopy(base.vocabulary)
    section_of = {**VOCAB_KINDS, "trim": "trims"}
    for (kind, word), residuals in residual_by_word.items():
        mult = _shrunk_mult(residuals)
        if kind == "line" and word not in vocabulary["lines"]:
            where = line_position[word]
            position = "front" if where["front"] >= where["noun"] else "noun"
            vocabulary["lines"][word] = _line_spec(word, position, mult)
        else:
            vocabulary[section_of[kind]][word]["price_mult"] = mult

    item_prefix, image_prefix, placeholder, placeholder_rate = _url_prefixes(df)
    codes = df["product_code"].astype(np.int64)
    code_min = int(codes.min())
    code_max = max(int(codes.max()), code_min + MIN_CODE_DOMAIN - 1)
    ratio = df["full_price_eur"].to_numpy(dtype=float) / df["full_price"].to_numpy(dtype=float)
    description = f"Fitted by datagen fit from {source or 'a table'} ({len(df)} rows, {len(entries)} entries)"
    if fallbacks:
        description += f"; drawn as {FALLBACK_SILHOUETTE} for lack of a keyword: {', '.join(fallbacks)}"
    data = {
        "name": name,
        "description": description,
        "website_name": _mode(df["website_name"]),
        "competence_date": _mode(df["competence_date"]),
        "country_code": _mode(df["country_code"]),
        "currency_code": _mode(df["currency_code"]),
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
    return CatalogueProfile.from_dict(data, source="fitted profile")


def fit_profile(data_dir: str | Path) -> CatalogueProfile:
    """Learn a profile from a DATASET dir (all splits) or a DBQ table file. See ``fit_table``.

    Raises:
        UserError: the path is not a readable dataset.
    """
    path = Path(data_dir)
    return fit_table(read_table(path), name=f"fit:{path.name}", source=str(path))


def write_fitted_profile(cfg: FitConfig) -> tuple[CatalogueProfile, Path]:
    """Fit ``cfg.data_dir`` and write the profile JSON to ``cfg.out`` atomically.

    Raises:
        UserError: ``cfg.out`` exists without ``overwrite``, cannot be written, or the data is unreadable.
    """
    out = Path(cfg.out).expanduser().absolute()
    if out.is_dir():
        raise UserError(f"{out} is a dir: --out names the profile JSON file to write")
    check_replaceable_file(out, _is_profile, overwrite=cfg.overwrite, what="profile", flag="--out")
    profile = fit_profile(cfg.data_dir)
    text = json.dumps(profile.to_dict(), indent=1, ensure_ascii=False) + "\n"
    with claim_output(out):
        check_replaceable_file(out, _is_profile, overwrite=cfg.overwrite, what="profile", flag="--out")
        write_files_atomically({out: text.encode("utf-8")})
    return profile, out


_is_profile = json_with_keys("taxonomy", "vocabulary")
