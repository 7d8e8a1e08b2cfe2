"""`datagen fit`: silhouettes by keyword in several languages, title parsing, what a fitted profile holds."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks.fidelity_scores import french_profile_dict
from contracts.errors import run_cli
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.catalogue.shapes import SILHOUETTES
from datagen.cli import group
from datagen.fit.profile import fit_table
from datagen.fit.silhouettes import FALLBACK_SILHOUETTE, KIDS_SHAPES, SILHOUETTE_KEYWORDS, silhouette_for
from datagen.fit.titles import Lexicon, parse_title
from tests.datagen.fixtures_real import catalogue_rows, dbq_row, write_dataset


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.from_profile(builtin_profile())


def test_every_keyword_rule_names_a_drawable_silhouette():
    """The keyword table, the kids map and the fallback only name silhouettes the renderer draws."""
    shapes = {s for s, _ in SILHOUETTE_KEYWORDS} | set(KIDS_SHAPES.values()) | {FALLBACK_SILHOUETTE}
    assert shapes <= set(SILHOUETTES)


@pytest.mark.parametrize(
    ("cats", "noun", "shape"),
    [
        (("FEMME", "MANTEAUX", "TRENCHS"), "", "trench"),
        (("DONNA", "BORSE", "N.A."), "", "shoulder_bag"),
        (("DONNA", "BORSE", "BORSE A TRACOLLA"), "", "crossbody"),
        (("HERREN", "SCHUHE", "STIEFEL"), "", "boot"),
        (("UOMO", "SCARPE", "N.A."), "", "loafer"),
        (("FEMME", "ACCESSOIRES", "ÉCHARPES"), "", "scarf"),
        (("KIDS", "SHOES", "SNEAKERS"), "", "kids_sneaker"),
        (("ENFANT", "FILLE", "ROBES"), "", "kids_dress"),
        (("WOMAN", "ACCESSORIES", "HATS & GLOVES"), "Gloves", "gloves"),
        (("MUJER", "BOLSOS", "N.A."), "", "shoulder_bag"),
        (("WOMAN", "MISC", "OTHER"), "", FALLBACK_SILHOUETTE),
    ],
)
def test_silhouettes_from_categories_in_several_languages(cats, noun, shape):
    """Keywords in English, French, Italian, German and Spanish pick the shape; kids get kids' shapes."""
    assert silhouette_for(*cats, noun)[0] == shape


def test_parse_title_fills_the_grammar_slots(lexicon):
    """Size, line, pattern, material, trim, detail, noun and colour come out of catalogue-style titles."""
    p = parse_title("Long Kensington Heritage Trench Coat", lexicon)
    assert p.attrs == {"size": "Long", "line": "Kensington Heritage"} and p.noun == "Trench Coat"
    p = parse_title("House Check Cotton and Leather Sneakers in Black", lexicon)
    assert p.attrs == {"pattern": "House Check", "material": "Cotton", "trim": "Leather"}
    assert p.noun == "Sneakers" and p.colour == "Black" and not p.unknown
    p = parse_title("Goddess Eau de Parfum 100ml", lexicon)
    assert p.attrs == {"line": "Goddess", "material": "Eau de Parfum", "size": "100ml"} and p.noun is None
    p = parse_title("Sac « Vintage », cuir Frances", lexicon)
    assert p.unknown == ["Sac", "Vintage", "cuir"] and p.attrs == {"line": "Frances"}


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_fit_learns_constants_urls_and_placeholders():
    """Country, currency, EUR rate (median ratio), URL prefixes, placeholder share come from the data."""
    rows = catalogue_rows(0, 60, country="GBR")
    for r in rows[:3]:
        r["imageurl"] = "N.A."
    profile = fit_table(_table(rows))
    assert (profile.country_code, profile.currency_code, profile.eur_rate) == ("GBR", "GBP", 1.1494)
    assert profile.item_url_prefix == "https://uk.burberry.com/"
    assert profile.image_url_prefix == "https://img.example/i/"
    assert profile.image_url_placeholder == "N.A." and profile.image_url_placeholder_rate == 0.05
    assert profile.product_code_min == 30_000_000 and profile.product_code_max >= 30_000_000 + 999_999
    assert profile.price_min == min(r["full_price"] for r in rows)


def test_fit_learns_taxonomy_weights_prices_and_new_words():
    """One entry per category and noun, weighted by rows; price medians per entry; unknown words kept."""
    rows = []
    for i in range(40):
        title = ["Vintage Check Cashmere Scarf", "Archivio Leather Bag"][i % 2]
        row = dbq_row(40_000_000 + i, "ITA", f"https://img.example/{i}", title, [590.0, 1890.0][i % 2] + i)
        row.update(category1_code="DONNA", category2_code=["SCIARPE", "BORSE"][i % 2], category3_code="N.A.")
        rows.append(row)
    profile = fit_table(_table(rows))
    entries = {e.category2: e for e in profile.taxonomy}
    assert set(entries) == {"SCIARPE", "BORSE"} and all(e.weight == 20 for e in entries.values())
    scarf, bag = entries["SCIARPE"], entries["BORSE"]
    assert (scarf.noun, scarf.silhouette, bag.noun, bag.silhouette) == (
        "Scarf",
        "scarf",
        "Bag",
        "shoulder_bag",
    )
    assert scarf.price.median == pytest.approx(590 + 19) and bag.price.median == pytest.approx(1890 + 20)
    assert scarf.price.min == 590 and bag.price.max == 1890 + 39
    assert scarf.options["material"] == {"Cashmere": 20} and scarf.options["pattern"] == {"Check": 20}
    assert "Vintage" in profile.vocabulary["lines"] and "Archivio" in profile.vocabulary["lines"]
    assert profile.vocabulary["lines"]["Vintage"]["position"] == "front"
    # The profile is valid and survives JSON.
    again = CatalogueProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again.fingerprint == profile.fingerprint


def test_fit_cli_writes_profile_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    """`datagen fit DIR --out p.json` writes a loadable profile; a second run needs --overwrite."""
    data = write_dataset(tmp_path / "d", catalogue_rows(0, 40, country="FRA"))
    out = tmp_path / "p.json"
    run_cli(group, ["fit", str(data), "--out", str(out)])
    assert "FRA EUR" in capsys.readouterr().out
    assert CatalogueProfile.load(out).currency_code == "EUR"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".p.json")]  # no temporary file left
    with pytest.raises(SystemExit) as exc:
        run_cli(group, ["fit", str(data), "--out", str(out)])
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    run_cli(group, ["fit", str(data), "--out", str(out), "--overwrite"])


@pytest.mark.slow
def test_synth_from_a_fit_scores_at_least_0_85_on_sdmetrics_quality(tmp_path):
    """Known generating profile -> "real" data -> fit -> synth, another seed: SDMetrics quality >= 0.85."""
    from datagen.config import SynthConfig
    from datagen.fidelity.compare import compare_tables
    from datagen.fit.profile import fit_profile
    from datagen.stats import read_table
    from datagen.synth.run import synthesize

    true_profile = tmp_path / "true.json"
    true_profile.write_text(json.dumps(french_profile_dict()), encoding="utf-8")
    small = {"rows": 600, "image_size": 32, "quiet": True, "workers": 1}
    real = synthesize(SynthConfig(out=str(tmp_path / "real"), seed=0, profile=str(true_profile), **small))
    fitted = tmp_path / "fit.json"
    fitted.write_text(json.dumps(fit_profile(real).to_dict()), encoding="utf-8")
    synth = synthesize(SynthConfig(out=str(tmp_path / "synth"), seed=1, profile=str(fitted), **small))
    result = compare_tables(read_table(real), read_table(synth))
    assert result["quality"]["score"] >= 0.85
    assert result["overall"]["score"] >= 0.85
    table = read_table(synth)
    assert set(table["currency_code"]) == {"EUR"} and set(table["country_code"]) == {"FRA"}
    assert set(table["category1_code"]) <= {"FEMME", "HOMME", "ENFANT"}
