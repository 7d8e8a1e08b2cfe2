"""`datagen fit` on every catalogue of the DBQ family: Chinese, Japanese and mixed-country forms synthesise,
titles are made of the source's own words in its order, and the structural rules keep holding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.fidelity_scores import shift_letters
from contracts.dataset.schema import COLUMNS
from contracts.errors import UserError
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.fit.grammar import learn_grammar
from datagen.fit.lengths import length_odds
from datagen.fit.profile import fit_table
from datagen.fit.silhouettes import silhouette_for
from datagen.fit.titles import Lexicon
from datagen.synth.price_model import to_eur
from datagen.synth.sample import TITLE_MAX, TITLE_MIN
from datagen.synth.titles import build_title
from datagen.synth.urls import slugify
from tests.datagen.fixtures_catalogues import cn_rows, jp_rows, mixed_rows, shifted_rows, synthetic_rows
from tests.datagen.fixtures_real import dbq_row

ROOT = Path(__file__).resolve().parents[2]
FORMS = {"cn": cn_rows, "jp": jp_rows, "mixed": mixed_rows, "shifted": shifted_rows}


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).astype(COLUMNS)


def _keys(df: pd.DataFrame) -> list[tuple]:
    return [
        tuple(r) for r in df[["category1_code", "category2_code", "category3_code"]].itertuples(index=False)
    ]


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.from_profile(builtin_profile())


def assert_structure(synth: pd.DataFrame, source: pd.DataFrame, profile: CatalogueProfile) -> None:
    """The DBQ rules a synthetic table must keep: prices, EUR rate, codes, URL forms, category triples."""
    assert (synth["price"] == synth["full_price"]).all() and (
        synth["price_eur"] == synth["full_price_eur"]
    ).all()
    assert synth["full_price_eur"].tolist() == [to_eur(p, profile.eur_rate) for p in synth["full_price"]]
    home = source[source["country_code"] == profile.country_code]  # a mix of countries: the most frequent
    assert profile.eur_rate == round(float(np.median(home["full_price_eur"] / home["full_price"])), 4)
    assert profile.country_code == source["country_code"].mode()[0]
    assert profile.currency_code == home["currency_code"].mode()[0]
    assert all(url.startswith(profile.item_url_prefix) for url in home["itemurl"])
    assert synth["product_code"].is_unique and (synth["flg_discount"] == 0).all()
    assert synth["product_code"].between(profile.product_code_min, profile.product_code_max).all()
    urls = profile.item_url_prefix + synth["title"].map(slugify) + "-p" + synth["product_code"].astype(str)
    assert (synth["itemurl"] == urls).all()
    images = synth["imageurl"]
    assert (images.str.startswith(profile.image_url_prefix) | (images == profile.image_url_placeholder)).all()
    assert set(_keys(synth)) <= set(_keys(source))
    lengths = synth["title"].str.len()
    assert lengths.min() >= TITLE_MIN and lengths.max() <= TITLE_MAX
    assert set(synth["currency_code"]) == {profile.currency_code}


@pytest.mark.parametrize("form", list(FORMS))
def test_fitted_profiles_synthesise_on_every_catalogue_form(form):
    """Chinese, Japanese and mixed-country rows (local categories, English titles) and letter-shifted titles:
    the fitted profile plans every row, and the rows keep the DBQ structure."""
    source = _table(FORMS[form](300))
    profile = fit_table(source)
    synth = _table(synthetic_rows(profile, seed=1, n=600))
    assert_structure(synth, source, profile)


def test_letter_shifted_titles_use_the_sources_words_and_are_mostly_new():
    """Titles no built-in word matches: synthetic titles are made of the source's words (>= 95%) and are
    mostly titles the source does not have (>= 50%), with its connectors ("boe" for "and", "jo" for "in")."""
    source = _table(shifted_rows(600))
    profile = fit_table(source)
    assert profile.connectors == {"trim": "boe", "colour": "jo"}
    titles = [r["title"] for r in synthetic_rows(profile, seed=1, n=600)]
    words = {w.lower() for t in source["title"] for w in t.split()}
    own_words = sum(all(w.lower() in words for w in t.split()) for t in titles) / len(titles)
    new = sum(t not in set(source["title"]) for t in titles) / len(titles)
    assert own_words >= 0.95 and new >= 0.5
    unshifted = [shift_letters(t, -1) for t in titles]
    assert sum(t.startswith(("Long ", "Short ", "Mid-length ")) for t in unshifted if "Trench Coat" in t) > 0


def test_grammar_learns_phrases_nouns_and_slots_in_the_sources_order(lexicon):
    """Words that travel together are one phrase, the last phrase is the noun, and unknown words keep their
    place between known ones: "Argyle" before the material, "Roll-neck" after it."""
    titles = [
        "Argyle Wool Roll-neck Cardigan",
        "Argyle Cashmere Cardigan",
        "Fair Isle Wool Roll-neck Sweater",
        "Fair Isle Cotton Cardigan",
        "Wool Pea Coat",
        "Cashmere Pea Coat",
    ]
    grammar = learn_grammar(titles, ["KNIT"] * 4 + ["COAT"] * 2, lexicon)
    first, third, coat = grammar.parsed[0], grammar.parsed[2], grammar.parsed[4]
    assert first.noun == "Cardigan" and coat.noun == "Pea Coat" and coat.attrs == {"material": "Wool"}
    order = ["size", "detail", "line", "pattern", "material"]
    assert order.index(next(k for k, v in first.attrs.items() if v == "Argyle")) < order.index("material")
    assert "Fair Isle" in third.attrs.values() and "Roll-neck" in third.attrs.values()
    roll_neck = next(k for k, v in third.attrs.items() if v == "Roll-neck")
    assert grammar.words[({"line": "lines", "detail": "details"}[roll_neck], "Roll-neck")][0] == "noun"


def test_known_lines_take_the_position_the_catalogue_gives_them(lexicon):
    """Built-in "Chelsea Heritage" ends up before the material when the catalogue writes it there."""
    titles = [
        "Long Chelsea Heritage Wool Car Coat",
        "Short Chelsea Heritage Silk Parka",
        "Chelsea Heritage Wool Parka",
    ]
    grammar = learn_grammar(titles, ["TRENCH"] * 3, lexicon)
    assert grammar.words[("lines", "Chelsea Heritage")][0] == "front"
    assert all(p.attrs.get("line") == "Chelsea Heritage" for p in grammar.parsed)


def test_a_bare_noun_is_a_valid_title_and_short_entries_fall_back():
    """A category of bare nouns ("Raincoat") writes the noun alone; one whose titles shrink below 8 characters
    once numbers are dropped ("Bag 2024") borrows words from its noun's other entries or another entry."""
    rows = cn_rows(80)
    extra = [dbq_row(90_000_000 + i, "USA", f"https://x/{i}", "Raincoat", 500.0) for i in range(3)]
    for i, title in enumerate(["Bag 2024", "Bag 2025", "Xyz 1", "Xyz 2"]):
        row = dbq_row(91_000_000 + i, "USA", f"https://x/b{i}", title, 700.0)
        row.update(category1_code="WOMAN", category2_code="BAGS", category3_code=["SHOULDER", "MISC"][i // 2])
        extra.append(row)
    source = _table(rows + extra)
    profile = fit_table(source)
    raincoat = next(e for e in profile.taxonomy if e.noun == "Raincoat")
    assert all(list(opts) == [""] for opts in raincoat.options.values())
    synth = _table(synthetic_rows(profile, seed=2, n=800))
    assert_structure(synth, source, profile)
    assert (synth.loc[synth["category2_code"] == "OUTERWEAR", "title"] == "Raincoat").all()
    assert {"SHOULDER", "MISC"} <= set(synth.loc[synth["category2_code"] == "BAGS", "category3_code"])


def test_fit_refuses_titles_no_synthesis_could_write():
    """Titles all under 8 characters: `datagen fit` says so instead of writing a profile synth refuses."""
    rows = [dbq_row(92_000_000 + i, "USA", f"https://x/{i}", "Bag", 100.0) for i in range(4)]
    with pytest.raises(UserError, match="8-71"):
        fit_table(_table(rows))


def test_length_odds_counts_the_titles_within_8_to_71_characters():
    """Exact share of drawn titles of 8-71 chars: a bare 3-letter noun never, with a long word always."""
    vocab = builtin_profile().vocabulary
    connectors = {"trim": "and", "colour": "in"}
    options = {k: {"": 1.0} for k in ("size", "line", "pattern", "material", "trim", "detail")}
    entry = {"noun": "Bag", "title_colour": False, "options": options}
    assert length_odds(entry, vocab, connectors) == 0.0
    entry["options"]["material"] = {"": 1.0, "Leather": 3.0}
    assert length_odds(entry, vocab, connectors) == pytest.approx(0.75)


def test_profiles_carry_their_title_connectors():
    """A profile names the words before a trim and a colour; the built-in one keeps "and"/"in" and its
    JSON (and so its fingerprint) has no connectors key; a connector must be one word."""
    base = builtin_profile()
    assert "connectors" not in base.to_dict() and base.connectors == {"trim": "and", "colour": "in"}
    data = {**base.to_dict(), "connectors": {"trim": "boe", "colour": "jo"}}
    profile = CatalogueProfile.from_dict(data)
    assert CatalogueProfile.from_dict(profile.to_dict()).connectors == {"trim": "boe", "colour": "jo"}
    sneaker = next(e for e in profile.taxonomy if e.silhouette == "sneaker")
    attrs = dict.fromkeys(("size", "line", "pattern", "detail"), "")
    attrs.update(material="Cotton", trim="Leather", colour="Black")
    title = build_title(attrs, sneaker, profile)
    assert "Cotton boe Leather Sneakers" in title and (not sneaker.title_colour or title.endswith("jo Black"))
    with pytest.raises(UserError, match="connectors.trim"):
        CatalogueProfile.from_dict({**data, "connectors": {"trim": "and also"}})


@pytest.mark.parametrize(
    ("cats", "shape"),
    [
        (("WOMAN", "包款", "斜背包"), "crossbody"),
        (("MAN", "小皮件", "钱包 · 卡片夹"), "card_case"),
        (("WOMAN", "成衣", "连衣裙"), "dress"),
        (("WOMAN", "鞋款", "运动鞋"), "sneaker"),
        (("WOMAN", "美妆", "香氛"), "perfume"),
        (("WOMAN", "ウェア", "トレンチコート"), "trench"),
        (("WOMAN", "バッグ", "トップハンドル"), "shoulder_bag"),
        (("WOMAN", "가방", "크로스바디"), "crossbody"),
        (("KIDS", "婴儿装", "针织衫 · 运动衫"), "kids_top"),
    ],
)
def test_silhouettes_from_chinese_japanese_and_korean_categories(cats, shape):
    """Keywords in Chinese, Japanese and Korean match inside unspaced category names."""
    assert silhouette_for(*cats, "")[0] == shape


def test_fit_is_byte_identical_across_processes():
    """Same rows, other hash seeds: the same profile (no set or dict order leaks into it)."""
    code = (
        "import pandas as pd; from tests.datagen.fixtures_catalogues import mixed_rows;"
        "from datagen.fit.profile import fit_table;"
        "print(fit_table(pd.DataFrame(mixed_rows(200))).fingerprint)"
    )
    prints = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(prints) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("form", "floor"), [("cn", 0.85), ("jp", 0.85), ("mixed", 0.55), ("shifted", 0.85)])
def test_fit_synth_compare_on_every_catalogue_form(tmp_path, form, floor):
    """Source -> `datagen fit` -> `datagen synth --profile` (another seed) -> `datagen compare`: SDMetrics
    quality at least ``floor`` (a mix of countries keeps one country and currency, so it scores lower) and the
    written dataset keeps the DBQ structure."""
    from datagen.config import SynthConfig
    from datagen.fidelity.compare import compare_tables
    from datagen.stats import read_table
    from datagen.synth.run import synthesize

    source = _table(FORMS[form](400))
    profile = fit_table(source)
    fitted = tmp_path / "fit.json"
    fitted.write_text(json.dumps(profile.to_dict(), ensure_ascii=False), encoding="utf-8")
    cfg = SynthConfig(out=str(tmp_path / "synth"), rows=400, seed=1, image_size=32, workers=1, quiet=True)
    cfg.profile = str(fitted)
    synth = read_table(synthesize(cfg))
    assert_structure(synth, source, profile)
    result = compare_tables(source, synth)
    assert result["quality"]["score"] >= floor and result["overall"]["score"] >= floor
