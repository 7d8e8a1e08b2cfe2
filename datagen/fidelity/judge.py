"""The privacy and utility section of `datagen compare`: which rows play which part, every metric run or
skipped with the reason, and the verdict.

The real rows split into the fit's rows and a holdout (``datagen.fidelity.holdout``). Privacy needs the
holdout; utility trains on the fit's rows or on the synthetic rows and tests on the holdout, or, without one,
trains on the real train and validation splits and tests on the real test split; detection needs only the
two sides. Image metrics run where both sides are DATASET dirs with images.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES
from datagen.fidelity import detection, privacy, utility
from datagen.fidelity.holdout import SPLIT, Holdout, find_holdout
from datagen.fidelity.verdict import verdict

IMAGE_PATH = "image_path"
MAX_IMAGE_ROWS = 1500  # per part (real train, real test, synthetic), sampled: about 1-2 ms of features each
PRIVACY_COLUMNS = ("product_code", "title", *privacy.CATEGORY_COLUMNS, privacy.PRICE)
UTILITY_COLUMNS = ("title", *privacy.CATEGORY_COLUMNS, privacy.PRICE)


def _lacking(columns: tuple[str, ...], **tables: pd.DataFrame) -> str | None:
    for side, table in tables.items():
        missing = [c for c in columns if c not in table.columns]
        if missing:
            return f"the {side} rows lack column(s) {', '.join(missing)}"
    return None


def promised_no_copies(synth_dir: str | Path) -> bool:
    """Whether the synthetic data's profile promises no source title (`datagen fit --no-copies`)."""
    path = Path(synth_dir).expanduser() / layout.PROFILE_FILE
    try:
        titles = json.loads(path.read_text(encoding="utf-8")).get("source_titles") or {}
    except (OSError, ValueError, AttributeError):
        return False
    return bool(isinstance(titles, dict) and titles.get("exclude"))


def _real_split(real: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Train and test rows of the real data when there is no holdout: its own splits, else a seeded split."""
    from contracts.dataset.split import assign_splits

    split = real[SPLIT] if SPLIT in real.columns else pd.Series([""] * len(real))
    if not (split == "test").any():
        split = pd.Series(
            assign_splits(real["product_code"].tolist(), real["category3_code"].astype(str).tolist(), seed),
            index=real.index,
        )
        how = f"a seeded 80/10/10 split of the real rows (seed {seed}): test rows"
    else:
        how = "the real data's test split"
    test = split == "test"
    return real[~test].reset_index(drop=True), real[test].reset_index(drop=True), how


def load_for_features(path: str):
    """An image for the feature extractor, JPEGs decoded at a reduced scale (at least 64 px: the features
    look at 32 x 32 and 8 x 8 at most), about three times faster than a full decode."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (64, 64))
        return img.convert("RGB")


def image_features(paths: list[str], quiet: bool = True, desc: str = "image features") -> np.ndarray:
    """The probe features (``contracts.image_features``) of each image, with a progress bar on a terminal."""
    from tqdm import tqdm

    from contracts.image_features import embed_images

    bar = tqdm(total=len(paths), unit="img", desc=desc, leave=False, disable=quiet or not sys.stderr.isatty())
    with bar:
        return embed_images(paths, load_for_features, bar.update)


def _has_images(table: pd.DataFrame) -> bool:
    return IMAGE_PATH in table.columns and len(table) > 0 and table[IMAGE_PATH].notna().all()


def _sampled(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    keep = detection.sample_rows(len(table), MAX_IMAGE_ROWS, seed)
    return table.iloc[keep].reset_index(drop=True)


def find_sides(
    real: pd.DataFrame, synth: pd.DataFrame, synth_dir: str | Path, holdout: str | Path | None = None
) -> tuple[Holdout | None, str | None]:
    """The fit's rows and the holdout (``datagen.fidelity.holdout.find_holdout``), or why there are none.

    Raises:
        UserError: ``holdout`` shares products with the real rows or cannot be read.
    """
    why = _lacking(PRIVACY_COLUMNS, real=real, synthetic=synth)
    return (None, why) if why is not None else find_holdout(real, synth_dir, holdout)


def judge(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    synth_dir: str | Path,
    holdout: str | Path | None = None,
    seed: int = 0,
    quiet: bool = True,
    note: Callable[[str], None] | None = None,
    sides: tuple[Holdout | None, str | None] | None = None,
) -> dict:
    """Privacy (against the holdout), utility (TSTR against TRTR), detection, and the verdict.

    ``sides`` is ``find_sides``' answer when the caller has it already; ``note`` receives one line per
    metric skipped, saying why (also kept under ``skipped``).

    Raises:
        UserError: ``holdout`` shares products with the real rows or cannot be read.
    """
    skipped: list[str] = []

    def skip(line: str) -> None:
        skipped.append(line)
        if note is not None:
            note(line)

    found, why = sides if sides is not None else find_sides(real, synth, synth_dir, holdout)
    promised = promised_no_copies(synth_dir)
    out: dict = {"privacy": None, "utility": None, "detection": {}, "promise": None}
    if promised and "title" in synth.columns:
        # the promise covers every source row the fit read, held out or not: check all the real rows given
        source = real if found is None else pd.concat([found.fit_rows, found.rows], ignore_index=True)
        copied = privacy.copied_titles(synth, source)
        out["promise"] = {
            "text": "`datagen fit --no-copies`: no synthetic title equals a source title",
            "source_rows": len(source),
            "copied_titles": int(copied.sum()),
            "kept": not copied.any(),
            "examples": sorted(set(synth.loc[copied, "title"].astype(str)))[:5],
        }
    if found is None:
        skip(f"privacy not judged: {why}")
    else:
        fit_rows, rows = found.fit_rows, found.rows
        out["privacy"] = {
            "holdout": {"how": found.how, "rows": len(rows), "fit_rows": len(fit_rows)},
            "promised_no_copies": promised,
            "copies": privacy.copies(synth, fit_rows, rows),
            "distance": privacy.distance_share(synth, fit_rows, rows, seed),
            "baseline": privacy.baseline_protection(synth, fit_rows, rows, seed),
            "disclosure": privacy.disclosure(synth, fit_rows, rows),
            "columns": {"distance": list(privacy.DCR_COLUMNS), "copies": list(privacy.COPY_COLUMNS)},
        }

    lacking = _lacking(UTILITY_COLUMNS, real=real, synthetic=synth)
    if found is not None:
        train, test, test_how = found.fit_rows, found.rows, "the holdout (rows the fit never saw)"
    elif lacking is None:
        train, test, test_how = _real_split(real, seed)
    if lacking is not None:
        skip(f"utility not measured: {lacking}")
    elif len(test) == 0 or len(train) == 0:
        skip("utility not measured: no real rows to train or test on")
    else:
        images = None
        if _has_images(train) and _has_images(test) and _has_images(synth):
            parts = {"real_train": train, "real_test": test, "synth": synth}
            parts = {k: _sampled(t, seed + i) for i, (k, t) in enumerate(parts.items())}
            x = image_features([p for t in parts.values() for p in t[IMAGE_PATH].astype(str)], quiet)
            bounds = np.cumsum([0, *(len(t) for t in parts.values())])
            images = {
                k: (x[a:b], t["category3_code"].astype(str).to_numpy())
                for (k, t), a, b in zip(parts.items(), bounds[:-1], bounds[1:], strict=True)
            }
        else:
            skip("category from image and image detection skipped: both sides need images (DATASET dirs)")
        out["utility"] = {**utility.utility(train, test, synth, images, seed), "test": test_how}
        if images is not None:
            real_x = np.concatenate([images["real_train"][0], images["real_test"][0]])
            out["detection"]["images"] = detection.image_detection(real_x, images["synth"][0], seed)

    lacking = _lacking(tuple(COLUMN_NAMES), real=real, synthetic=synth)
    if lacking is None:
        out["detection"]["table"] = detection.table_detection(
            real[list(COLUMN_NAMES)], synth[list(COLUMN_NAMES)], seed
        )
    else:
        skip(f"table detection skipped: {lacking}")
    if "title" in real.columns and "title" in synth.columns:
        out["detection"]["titles"] = detection.title_detection(real["title"], synth["title"], seed)
    out["verdict"] = verdict(out["privacy"], out["utility"], promised, why, out["promise"])
    out["skipped"] = skipped
    return out
