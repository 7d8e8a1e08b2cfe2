"""`datagen fit` end to end: read the source, keep a holdout out, fit the rest, guard the titles, write.

``fit_source`` is pure (a table in, the profile and the holdout mask out); ``write_fitted_profile`` is the
command's I/O edge. The profile records the holdout (``datagen.fit.holdout``) and the source titles' digests
(``datagen.fit.copies``), and travels into every dataset synthesised from it, so `datagen compare` finds the
rows the fit never saw from the synthetic dataset alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.errors import UserError
from contracts.outputs import check_replaceable_file, claim_output, json_with_keys, write_files_atomically
from datagen.catalogue.profile import CatalogueProfile
from datagen.config import FitConfig
from datagen.fit.copies import guard_titles
from datagen.fit.holdout import codes_digest, holdout_mask, holdout_record
from datagen.fit.profile import fit_table
from datagen.stats import read_table


@dataclass
class FitResult:
    """What `datagen fit` made: the profile, which source rows it held out, the entries it widened."""

    profile: CatalogueProfile
    holdout: np.ndarray  # True for each source row (with a positive price) kept out of the fit
    widened: list[str]


def fit_source(
    table: pd.DataFrame,
    holdout: float,
    seed: int = 0,
    copies: bool = True,
    name: str = "fit",
    source: str = "",
) -> FitResult:
    """Hold out ``holdout`` of the products, fit the rest, guard every source title (holdout included, so
    synthesis treats both sides alike), and record the holdout in the profile. Pure.

    Raises:
        UserError: too few products to hold any out, or a source ``fit_table`` cannot learn from.
    """
    df = table[table["full_price"] > 0].reset_index(drop=True)
    if df.empty:
        raise UserError("no row with a positive full_price to fit: pass a dataset with prices")
    codes = df["product_code"].astype(np.int64).to_numpy()
    mask = holdout_mask(codes, df["category3_code"].astype(str).tolist(), holdout, seed)
    profile = fit_table(df[~mask].reset_index(drop=True), name=name, source=source)
    salt = codes_digest(codes)[:16]  # differs per source, so digests cannot be compared across profiles
    profile, widened = guard_titles(profile, df["title"].astype(str), salt, exclude=not copies)
    data = profile.to_dict()
    data["holdout"] = holdout_record(codes[~mask].tolist(), codes[mask].tolist(), holdout, seed, source)
    data["description"] += (
        f"; {int(mask.sum())} rows of {len(df)} held out (--holdout {holdout:g}, seed {seed})"
        + ("; never emits a source title (--no-copies)" if not copies else "")
    )
    return FitResult(CatalogueProfile.from_dict(data, source="fitted profile"), mask, widened)


def write_fitted_profile(cfg: FitConfig) -> tuple[FitResult, Path]:
    """Fit ``cfg.data_dir`` and write the profile JSON to ``cfg.out`` atomically.

    Raises:
        UserError: ``cfg.out`` exists without ``overwrite``, cannot be written, or the data is unreadable.
    """
    out = Path(cfg.out).expanduser().absolute()
    if out.is_dir():
        raise UserError(f"{out} is a dir: --out names the profile JSON file to write")
    check_replaceable_file(out, _is_profile, overwrite=cfg.overwrite, what="profile", flag="--out")
    path = Path(cfg.data_dir)
    result = fit_source(
        read_table(path), cfg.holdout, cfg.seed, cfg.copies, name=f"fit:{path.name}", source=str(path)
    )
    text = json.dumps(result.profile.to_dict(), indent=1, ensure_ascii=False) + "\n"
    with claim_output(out):
        check_replaceable_file(out, _is_profile, overwrite=cfg.overwrite, what="profile", flag="--out")
        write_files_atomically({out: text.encode("utf-8")})
    return result, out


_is_profile = json_with_keys("taxonomy", "vocabulary")
