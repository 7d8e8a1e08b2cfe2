"""The rows of a comparison: the real rows, the synthetic rows, and which real rows the fit saw and did not.

``load_rows`` reads either side (a DATASET dir with its image paths and splits, or a DBQ table file).
``find_holdout`` splits the real rows into the fit's rows and the holdout:

- ``--holdout DIR`` (or table file): the real argument holds the fit's rows, the holdout the others; the
  two must not share a product;
- otherwise the synthetic dataset's own copy of its profile (``profile.json``, written by `datagen synth`)
  names the products `datagen fit --holdout` kept out; the real rows are the fit's source if they hold all of
  them and, outside them, exactly the rows the fit saw (a digest of their product codes).

Without a holdout, privacy cannot be judged (every figure needs the same figure for a fresh sample) and the
reason says what to do; utility and detection still run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES
from contracts.errors import UserError
from datagen.fit.holdout import codes_digest

SPLIT = "split"  # the extra column load_rows adds: the row's split ("" for a table file)


def load_rows(path: str | Path) -> pd.DataFrame:
    """The 17 columns of every row, plus ``image_path`` (None for a table file) and ``split``.

    Raises:
        UserError: the path is not a readable DATASET dir or DBQ table file.
    """
    from contracts.dataset.reader import IMAGE_PATH, read_dataset
    from datagen.stats import read_table

    path = Path(path).expanduser()
    if path.is_file():
        table = read_table(path)
        table[IMAGE_PATH] = None
        table[SPLIT] = ""
        return table
    frames = []
    for split, frame in read_dataset(path).items():
        frame = frame[[*COLUMN_NAMES, IMAGE_PATH]].copy()
        frame[SPLIT] = split
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@dataclass
class Holdout:
    """The fit's rows and the rows it never saw, and how they were found."""

    fit_rows: pd.DataFrame
    rows: pd.DataFrame
    how: str  # one line for the report: where the holdout came from
    fraction: float | None = None  # as `datagen fit --holdout` recorded it


def recorded_holdout(synth_dir: str | Path) -> dict | None:
    """The ``holdout`` key of the profile the synthetic dataset was drawn from, if it has one."""
    path = Path(synth_dir).expanduser() / layout.PROFILE_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8")).get("holdout")
    except (OSError, ValueError, AttributeError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("product_codes"), list) else None


def find_holdout(
    real: pd.DataFrame, synth_dir: str | Path, holdout: str | Path | None = None
) -> tuple[Holdout | None, str | None]:
    """``(Holdout, None)``, or ``(None, why there is none)``; see the module docstring.

    Raises:
        UserError: ``holdout`` shares products with the real (fit) rows, or cannot be read.
    """
    if holdout is not None:
        rows = load_rows(holdout)
        shared = sorted(set(real["product_code"]) & set(rows["product_code"]))
        if shared:
            raise UserError(
                f"--holdout {holdout} shares {len(shared)} products with the real rows (e.g. product_code "
                f"{shared[0]}): a holdout holds rows the fit never saw; pass the fit's rows as REAL and "
                "only the others as --holdout"
            )
        return Holdout(real.reset_index(drop=True), rows, f"--holdout {holdout} ({len(rows)} rows)"), None
    record = recorded_holdout(synth_dir)
    if record is None:
        return None, (
            "the synthetic data's profile records no holdout (the built-in profile, or a fit without one): "
            "fit with `datagen fit --holdout`, or pass --holdout DIR with real rows the fit never saw"
        )
    codes = {int(c) for c in record["product_codes"]}
    priced = real[real["full_price"] > 0]  # the rows `datagen fit` reads
    held = priced["product_code"].isin(codes)
    found = set(priced.loc[held, "product_code"])
    if not found:
        return None, (
            f"the real rows are not the source its profile was fitted on (none of the {len(codes)} "
            "held-out products is among them): pass that source as REAL, or --holdout DIR"
        )
    fit_rows = priced[~held]
    if len(found) < len(codes) or codes_digest(fit_rows["product_code"]) != record.get("fit_codes_sha256"):
        return None, (
            f"the real rows differ from the source the profile was fitted on ({len(found)} of {len(codes)} "
            f"held-out products, {len(fit_rows)} other rows against the fit's {record.get('fit_rows')}): "
            "pass that source unchanged as REAL, or --holdout DIR"
        )
    how = (
        f"recorded by `datagen fit --holdout {record['fraction']:g}` in the synthetic data's profile: "
        f"{int(held.sum())} held-out rows, {len(fit_rows)} rows fitted"
    )
    return (
        Holdout(
            fit_rows.reset_index(drop=True), priced[held].reset_index(drop=True), how, record["fraction"]
        ),
        None,
    )
