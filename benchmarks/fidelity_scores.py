"""Fidelity figures of the real-data tooling, printed as tables (not a test: the figures are for the notes).

1. The built-in profile against the real dataset's published statistics (../shared/mission.md): synthesise
   ``--rows`` rows and check each statistic with ``datagen.stats``.
2. ``datagen fit`` on data with a known generating profile (a French variant of the built-in one, from the
   test fixtures): synthesise "real" data from it, fit, synthesise from the fit with another seed, compare.
   Reference rows: the true profile with another seed (the ceiling) and the built-in US profile (no fit).
3. ``datagen fit`` on titles no built-in word knows: the "real" data of 2 with every title and URL slug
   letter-shifted ("Check" -> "Difdl"); the share of synthetic titles made only of the source's words, the
   share that are new titles, and the scores of 2.

    python -m benchmarks.fidelity_scores [--rows 3040] [--image-size 64] [--work DIR]

Images do not enter the scores, so a small --image-size keeps the run short.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

import pandas as pd

from datagen.config import SynthConfig
from datagen.fidelity.compare import compare_tables
from datagen.fit.profile import fit_profile, fit_table
from datagen.stats import column_relations, column_stats, read_table
from datagen.synth.run import synthesize


def synth(out: Path, rows: int, seed: int, size: int, profile: Path | None = None) -> Path:
    cfg = SynthConfig(out=str(out), rows=rows, seed=seed, image_size=size, quiet=True, overwrite=True)
    if profile is not None:
        cfg.profile = str(profile)
    return synthesize(cfg)


def mission_checks(table: pd.DataFrame) -> list[tuple[str, str, str, bool]]:
    """(statistic, real value from mission.md, measured, ok) for every row of the mission table."""
    stats = {s["column"]: s for s in column_stats(table)}
    relations = {r["text"] for r in column_relations(table)}
    out: list[tuple[str, str, str, bool]] = []

    def one_value(col: str, want: str) -> None:
        s = stats[col]
        got = next(iter(s["frequencies"])) if s["kind"] == "label" else "?"
        out.append(
            (
                f"{col}: one value",
                want,
                f"{s['n_unique']} value(s): {got}",
                s["n_unique"] == 1 and got == want,
            )
        )

    for col, want in [
        ("website_name", "Burberry"),
        ("competence_date", "2023-11-17"),
        ("country_code", "USA"),
    ]:
        one_value(col, want)
    one_value("currency_code", "USD")
    one_value("brand", "BURBERRY")
    c1 = stats["category1_code"]
    c1_text = f"{c1['n_unique']}: {', '.join(c1['frequencies'])}"
    out.append(
        (
            "category1_code classes",
            "3 (WOMAN, MAN, KIDS)",
            c1_text,
            set(c1["frequencies"]) == {"WOMAN", "MAN", "KIDS"},
        )
    )
    c2 = stats["category2_code"]
    out.append(("category2_code classes", "26", str(c2["n_unique"]), c2["n_unique"] == 26))
    c3 = stats["category3_code"]
    c3_len = f"{c3['n_unique']} values, length {c3['length']['min']:.0f}-{c3['length']['max']:.0f}"
    has_na = (table["category3_code"] == "N.A.").any()
    c3_ok = c3["n_unique"] > 30 and 3 <= c3["length"]["min"] and c3["length"]["max"] <= 28 and has_na
    out.append(
        ("category3_code", "> 30 values, 3-28 chars, N.A.", c3_len + (", N.A." if has_na else ""), c3_ok)
    )
    pc = stats["product_code"]
    unique = pc["n_unique"] == len(table)
    pc_text = f"{pc['min']:,.0f}-{pc['max']:,.0f}, {'unique' if unique else 'REPEATS'}"
    pc_ok = 26_000_000 <= pc["min"] and pc["max"] <= 80_900_000 and unique
    out.append(("product_code range, unique", "26,000,000-80,900,000, unique", pc_text, pc_ok))
    for col, lo, hi in [("title", 8, 71), ("itemurl", 42, 105), ("imageurl", 4, 89)]:
        length = stats[col]["length"]
        out.append((f"{col} length", f"{lo}-{hi}", f"{length['min']:.0f}-{length['max']:.0f}",
                    lo <= length["min"] and length["max"] <= hi))  # fmt: skip
    title_unique = stats["title"]["n_unique"] / len(table)
    out.append(("titles nearly all unique", "(goal)", f"{title_unique:.1%} unique", title_unique >= 0.95))
    item_ok = bool((table["itemurl"].str.startswith("https://us.burberry.com/")).all())
    out.append(("itemurl form", "https://us.burberry.com/<slug>-p<code>",
                "prefix in every row" if item_ok else "other prefixes", item_ok and
                "itemurl ends with product_code in 100.0% of rows" in relations))  # fmt: skip
    is_url = table["imageurl"].str.startswith("https://assets.burberry.com/is/image/Burberryltd/")
    placeholders = sorted(set(table["imageurl"][~is_url]))
    out.append(("imageurl form", "assets URL; a few N.A.", f"{is_url.mean():.1%} URLs, others {placeholders}",
                is_url.mean() > 0.95 and set(placeholders) <= {"N.A."}))  # fmt: skip
    fp = stats["full_price"]
    out.append(("full_price range", "32-70,000 USD", f"{fp['min']:,.0f}-{fp['max']:,.0f}",
                32 <= fp["min"] and fp["max"] <= 70_000))  # fmt: skip
    out.append(("price == full_price", "every row", "yes" if "price == full_price in every row" in relations
                else "no", "price == full_price in every row" in relations))  # fmt: skip
    eur = "full_price_eur == full_price x 0.9225 to the cent in 100.0% of rows"
    eur_exact = bool(((table["full_price"] * 0.9225 - table["full_price_eur"]).abs() <= 0.005 + 1e-9).all())
    fe = stats["full_price_eur"]
    out.append(("full_price_eur", "full_price x 0.9225 to cents (29.5-64.6k)",
                f"{fe['min']:,.2f}-{fe['max']:,.2f}, rounded rate in every row: {eur_exact}",
                eur in relations and eur_exact and 29.5 <= fe["min"] and fe["max"] <= 64_600))  # fmt: skip
    out.append(("price_eur == full_price_eur", "every row",
                "yes" if "price_eur == full_price_eur in every row" in relations else "no",
                "price_eur == full_price_eur in every row" in relations))  # fmt: skip
    fd = stats["flg_discount"]
    out.append(
        ("flg_discount", "0 in every row", f"{fd['min']:.0f}-{fd['max']:.0f}", fd["max"] == 0 == fd["min"])
    )
    out.append(("rows", "3,040", f"{len(table):,}", len(table) == 3040))
    return out


def scores(real: Path | pd.DataFrame, synth_dir: Path) -> dict:
    result = compare_tables(
        real if isinstance(real, pd.DataFrame) else read_table(real), read_table(synth_dir)
    )
    q = result["quality"]
    return {
        "sdmetrics_quality": q["score"],
        "column_shapes": q["column_shapes"],
        "column_pair_trends": q["column_pair_trends"],
        "titles": result["titles"]["score"],
        "overall": result["overall"]["score"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3040)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the datasets here (default: a temp dir)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fidelity-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    print(f"## 1. Built-in profile, {args.rows} rows, against the mission.md table of the real US dataset\n")
    builtin = synth(work / "builtin-0", args.rows, 0, args.image_size)
    checks = mission_checks(read_table(builtin))
    width = max(len(c[0]) for c in checks)
    print(f"{'statistic':<{width}}  ok   {'real (mission.md)':<42} measured")
    for name, want, got, ok in checks:
        print(f"{name:<{width}}  {'yes' if ok else 'NO ':<3}  {want:<42} {got}")
    matched = sum(c[3] for c in checks)
    print(f"\n{matched}/{len(checks)} statistics match (ok: the value equals the real one, or the synthetic")
    print("range lies within the real range)\n")

    print("## 2. datagen fit on data with a known generating profile (French variant, FRA/EUR)\n")
    true_profile = work / "true-profile.json"
    true_profile.write_text(json.dumps(french_profile_dict(), ensure_ascii=False), encoding="utf-8")
    real = synth(work / "real-fr", args.rows, 0, args.image_size, true_profile)
    fitted = fit_profile(real)
    fit_json = work / "fit.json"
    fit_json.write_text(json.dumps(fitted.to_dict(), ensure_ascii=False), encoding="utf-8")
    rows = {
        "fit of it, seed 1 (datagen fit -> synth)": synth(
            work / "fit-1", args.rows, 1, args.image_size, fit_json
        ),
        "true profile, seed 1 (ceiling)": synth(work / "true-1", args.rows, 1, args.image_size, true_profile),
        "built-in US profile, seed 1 (no fit)": synth(work / "builtin-1", args.rows, 1, args.image_size),
    }
    header = ("sdmetrics_quality", "column_shapes", "column_pair_trends", "titles", "overall")
    label_width = max(len(k) for k in rows)
    print(
        f"{'synthetic data compared with real-fr':<{label_width}}  " + "  ".join(f"{h:>18}" for h in header)
    )
    for label, path in rows.items():
        s = scores(real, path)
        print(f"{label:<{label_width}}  " + "  ".join(f"{s[h]:>18.3f}" for h in header))
    print(f"\nfitted profile: {fitted.description}; {fitted.country_code} {fitted.currency_code}, "
          f"EUR rate {fitted.eur_rate:g}")  # fmt: skip

    print("\n## 3. datagen fit on letter-shifted titles (real-fr, every title word and URL slug shifted)\n")
    source = shifted_table(read_table(real))
    shifted_fit = work / "fit-shifted.json"
    shifted_fit.write_text(json.dumps(fit_table(source).to_dict(), ensure_ascii=False), encoding="utf-8")
    shifted_synth = synth(work / "fit-shifted-1", args.rows, 1, args.image_size, shifted_fit)
    titles = read_table(shifted_synth)["title"]
    words = {w.lower() for t in source["title"] for w in t.split()}
    own = titles.map(lambda t: all(w.lower() in words for w in t.split())).mean()
    new = (~titles.isin(set(source["title"]))).mean()
    s = scores(source, shifted_synth)
    print(f"titles of the source's words only: {own:.1%}; new titles: {new:.1%}")
    print("  ".join(f"{h} {s[h]:.3f}" for h in header))
    print(f"\nwork dir: {work}; {time.perf_counter() - start:.0f} s")


# The French catalogue of the fit tests: categories in French, EUR prices, other weights and price levels.
FRENCH_CATEGORIES = {
    "WOMAN": "FEMME",
    "MAN": "HOMME",
    "KIDS": "ENFANT",
    "OUTERWEAR": "VÊTEMENTS D'EXTÉRIEUR",
    "BAGS": "SACS",
    "SHOES": "CHAUSSURES",
    "ACCESSORIES": "ACCESSOIRES",
    "TRENCH COATS": "TRENCHS",
    "SNEAKERS": "BASKETS",
    "BOOTS": "BOTTES",
    "CASHMERE SCARVES": "ÉCHARPES EN CACHEMIRE",
    "KNITWEAR": "MAILLE",
    "DRESSES": "ROBES",
}


def shift_letters(text: str, by: int = 1) -> str:
    """Every ASCII letter moved ``by`` places in the alphabet, case kept: ``Check`` -> ``Difdl``."""

    def one(m: re.Match) -> str:
        base = 97 if m.group().islower() else 65
        return chr((ord(m.group()) - base + by) % 26 + base)

    return re.sub(r"[A-Za-z]", one, text)


def shifted_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every title and itemurl slug letter-shifted: titles in a vocabulary nothing knows."""
    out = table.copy()
    out["title"] = table["title"].map(shift_letters)
    head_slug_code = table["itemurl"].str.extract(r"^(.*/)(.*)(-p\d+)$")
    out["itemurl"] = head_slug_code[0] + head_slug_code[1].map(shift_letters) + head_slug_code[2]
    return out


def french_profile_dict() -> dict:
    """A known generating profile unlike the built-in one: FRA/EUR, French categories, reweighted, dearer."""
    import copy

    from datagen.catalogue.us import US_PROFILE

    data = copy.deepcopy(US_PROFILE)
    data.update(
        name="test:fr",
        description="French variant of the built-in profile (test fixture)",
        country_code="FRA",
        currency_code="EUR",
        eur_rate=1.0,
        item_url_prefix="https://fr.burberry.com/",
        image_url_placeholder_rate=0.01,
        price_min=30.0,
    )
    for i, entry in enumerate(data["taxonomy"]):
        for key in ("category1", "category2", "category3"):
            entry[key] = FRENCH_CATEGORIES.get(entry[key], entry[key])
        entry["weight"] = entry["weight"] * (1 + i % 3)
        entry["price"]["median"] = round(entry["price"]["median"] * 1.15)
    return data


if __name__ == "__main__":
    main()
