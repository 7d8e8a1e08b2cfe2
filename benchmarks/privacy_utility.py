"""Privacy and utility of `datagen fit` -> `synth`, judged against a holdout, and what judging costs.

Our generator's ``--rows`` rows (seed 7) are the "real" source. `datagen fit --holdout 0.5` keeps half of
the products out; `synth` draws as many rows as the fit saw (seed 1) from three profiles of the same half:

- **before**: the fit as it was before it guarded titles (``fit_table`` on the fitted half, no title digests,
  no widened entries; the holdout record added so `compare` finds the same holdout);
- **default**: `datagen fit --holdout 0.5`;
- **no-copies**: `datagen fit --holdout 0.5 --no-copies`.

`datagen compare` (``compare_datasets``) then scores each against the source, and the goals of the privacy and
utility work are checked: distance share <= 52% (SDMetrics' overfitting protection >= 0.96); titles copied at
most twice the holdout's rate and rows no more than the holdout's by default, none with --no-copies;
SDMetrics quality >= 0.97; category-from-title utility ratio >= 0.95. Last, the time the privacy and utility
section adds to `datagen compare` of ``--rows`` synthetic rows against the ``--rows`` source rows, images
included (goal: under 30 s).

    python -m benchmarks.privacy_utility [--rows 3040] [--image-size 336] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contracts.dataset.schema import COLUMN_NAMES
from datagen.catalogue.profile import CatalogueProfile
from datagen.config import SynthConfig
from datagen.fidelity.compare import compare_datasets, compare_tables, disk_schema
from datagen.fidelity.holdout import load_rows
from datagen.fidelity.judge import find_sides, judge
from datagen.fit.holdout import holdout_record
from datagen.fit.profile import fit_table
from datagen.fit.run import fit_source
from datagen.stats import read_table
from datagen.synth.run import synthesize

HOLDOUT = 0.5


def synth(out: Path, rows: int, seed: int, size: int, profile: Path | None = None) -> Path:
    cfg = SynthConfig(out=str(out), rows=rows, seed=seed, image_size=size, quiet=True, overwrite=True)
    cfg.profile = None if profile is None else str(profile)
    return synthesize(cfg)


def profiles(source: Path, work: Path) -> dict[str, Path]:
    """The three profiles of the fitted half, written to ``work``."""
    table = read_table(source)
    out = {}
    default = fit_source(table, HOLDOUT, seed=0, copies=True, source=str(source))
    mask = default.holdout
    before = fit_table(table[~mask].reset_index(drop=True), name="before", source=str(source)).to_dict()
    codes = table["product_code"]
    before["holdout"] = holdout_record(codes[~mask].tolist(), codes[mask].tolist(), HOLDOUT, 0, str(source))
    variants = {
        "before": CatalogueProfile.from_dict(before),
        "default": default.profile,
        "no-copies": fit_source(table, HOLDOUT, seed=0, copies=False, source=str(source)).profile,
    }
    for name, profile in variants.items():
        out[name] = work / f"profile-{name}.json"
        out[name].write_text(json.dumps(profile.to_dict(), ensure_ascii=False), encoding="utf-8")
    print(f"widened by the default fit: {', '.join(default.widened) or 'none'}\n")
    return out


def figures(result: dict) -> dict[str, float | None]:
    p, u = result["privacy"], result["utility"]["tasks"]
    d = result["detection"]
    return {
        "SDMetrics quality": result["quality"]["score"],
        "titles copied": p["copies"]["titles"]["synth"],
        "  holdout's rate": p["copies"]["titles"]["holdout"],
        "rows copied": p["copies"]["rows"]["synth"],
        "  holdout's rate ": p["copies"]["rows"]["holdout"],
        "NewRowSynthesis": p["copies"]["new_row_synthesis"]["synth"],
        "distance share": p["distance"]["share"],
        "DCROverfittingProtection": p["distance"]["sdmetrics_overfitting_protection"],
        "DCRBaselineProtection": p["baseline"]["synth"]["score"],
        "  holdout's": p["baseline"]["holdout"]["score"],
        "DisclosureProtection": p["disclosure"]["synth"],
        "  holdout's  ": p["disclosure"]["holdout"],
        "utility: category from title": u["category_from_title"]["ratio"],
        "utility: price (R² log)": u["price_from_category_and_title"]["ratio"],
        "utility: category from image": u.get("category_from_image", {}).get("ratio"),
        "augmented − real (category/title)": u["category_from_title"]["augmentation_gain"],
        "detection: table": d["table"]["score"],
        "detection: titles": d["titles"]["score"],
        "detection: images": d.get("images", {}).get("score"),
    }


def goals(name: str, result: dict) -> list[tuple[str, bool]]:
    p = result["privacy"]
    titles, rows = p["copies"]["titles"], p["copies"]["rows"]
    out = [
        ("distance share <= 52%", p["distance"]["share"] <= 0.52),
        ("overfitting protection >= 0.96", p["distance"]["sdmetrics_overfitting_protection"] >= 0.96),
        ("quality >= 0.97", result["quality"]["score"] >= 0.97),
        ("utility ratio (category from title) >= 0.95",
         result["utility"]["tasks"]["category_from_title"]["ratio"] >= 0.95),
    ]  # fmt: skip
    if name == "no-copies":
        out += [
            ("zero titles copied", titles["synth_count"] == 0),
            ("zero rows copied", rows["synth_count"] == 0),
        ]
    else:
        out += [
            ("titles copied <= 2 x holdout", titles["synth"] <= 2 * titles["holdout"]),
            ("rows copied <= holdout", rows["synth"] <= rows["holdout"]),
        ]
    return out


def timed_section(real_dir: Path, synth_dir: Path) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds for each part of `datagen compare`: reading, fidelity (quality, charts' data),
    the section. CPU time counts every thread; wall time also counts waiting for a core."""
    marks = [(time.perf_counter(), time.process_time())]
    real, synth_rows = load_rows(real_dir), load_rows(synth_dir)
    sides = find_sides(real, synth_rows, synth_dir)
    marks.append((time.perf_counter(), time.process_time()))
    columns = list(COLUMN_NAMES)
    compare_tables(real[columns], synth_rows[columns], disk_schema(real_dir), disk_schema(synth_dir))
    marks.append((time.perf_counter(), time.process_time()))
    judge(real, synth_rows, synth_dir, sides=sides)
    marks.append((time.perf_counter(), time.process_time()))
    parts = ("read", "fidelity", "privacy and utility")
    return {part: (b[0] - a[0], b[1] - a[1]) for part, a, b in zip(parts, marks[:-1], marks[1:], strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3040)
    parser.add_argument("--image-size", type=int, default=336)
    parser.add_argument(
        "--work", type=Path, default=None, help="keep the datasets here (default: a temp dir)"
    )
    parser.add_argument("--time", nargs=2, type=Path, metavar=("REAL", "SYNTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time:
        print(json.dumps(timed_section(*args.time)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="privacy-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    source = synth(work / "source", args.rows, 7, args.image_size)
    print(f"## Source: our generator's {args.rows} rows at seed 7; fit on half, half held out\n")
    paths = profiles(source, work)
    results = {}
    for name, profile in paths.items():
        synth_dir = synth(work / f"synth-{name}", args.rows // 2, 1, args.image_size, profile)
        results[name] = compare_datasets(source, synth_dir)
    rows = {name: figures(r) for name, r in results.items()}
    labels = list(next(iter(rows.values())))
    width = max(len(label) for label in labels)
    print(f"{'figure':<{width}}  " + "  ".join(f"{n:>10}" for n in results))
    for label in labels:
        cells = [rows[n][label] for n in results]
        print(
            f"{label:<{width}}  " + "  ".join(f"{'n/a':>10}" if c is None else f"{c:>10.3f}" for c in cells)
        )
    print("\ngoals (pass/fail):")
    for name, result in results.items():
        marks = ", ".join(f"{g} {'yes' if ok else 'NO'}" for g, ok in goals(name, result))
        print(f"  {name}: {marks}")
        print(f"  {name} verdict: {result['verdict']['text']}")

    print(
        f"\n## Time the section adds to `datagen compare` ({args.rows} synthetic rows against {args.rows})\n"
    )
    big = synth(work / "synth-default-full", args.rows, 2, args.image_size, paths["default"])
    # a fresh interpreter, as the command runs: each part pays for its own imports
    child = [sys.executable, "-m", "benchmarks.privacy_utility", "--time", str(source), str(big)]
    seconds = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
    print(f"{'part':<22} {'wall':>8} {'CPU':>8}")
    for part, (wall, cpu) in seconds.items():
        print(f"{part:<22} {wall:6.1f} s {cpu:6.1f} s")
    print(f"\nwork dir: {work}; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
