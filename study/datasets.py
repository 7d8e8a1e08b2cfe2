"""The DATASET dirs a study trains and tests on: made once under OUT/data, reused while their definition
holds.

A ``synth`` set is made by `datagen synth` (a ``fit`` one from the profile `datagen fit` learns from another
set); a ``data`` set is the user's DATASET dir itself, or a seeded sample of its train split (with its whole
validation split); a ``mix`` is the union of other sets' train and validation splits. Each made dir has a
record beside it (``NAME.json``: its definition and fingerprint); a dir whose record no longer matches the
file is made again. Several processes of one study (``--cell I/N`` jobs) make each dir once: the first takes
its lock, the others wait for it and reuse the result.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from contracts.dataset import layout
from contracts.dataset.reader import IMAGE_PATH, available_splits, read_split
from contracts.dataset.schema import COLUMN_NAMES
from contracts.errors import UserError
from contracts.outputs import OutputLock, write_json_atomically
from study.spec import TEST_NAME, Source, Study

GENERATOR = "study"  # dataset_info.json's generator of the samples and mixes a study writes
TRAINING_SPLITS = ("train", "validation")


@dataclass(frozen=True)
class Prepared:
    """A DATASET dir ready for the cells: where it is and what it holds."""

    name: str
    path: Path
    fingerprint: str
    rows: dict[str, int]  # per split


def data_dir(out: Path) -> Path:
    return out / "data"


def prepare_all(
    study: Study, out: Path, names: list[str], *, quiet: bool = True, say=lambda line: None
) -> dict[str, Prepared]:
    """The test set and the training sets ``names`` (and those they are made from), ready; made as needed.

    Raises:
        UserError: a set cannot be made, or the test split shares rows with a training set.
    """
    ready: dict[str, Prepared] = {}
    ready[TEST_NAME] = _prepare(study, out, TEST_NAME, study.test, ready, quiet, say)
    for train in study.train:  # in the file's order: a mix or fit comes after what it is made from
        if train.name in _needed(study, names):
            ready[train.name] = _prepare(study, out, train.name, train.source, ready, quiet, say)
    test_codes = _codes(ready[TEST_NAME].path, [study.test_split])
    for name in names:
        shared = test_codes & _codes(ready[name].path, TRAINING_SPLITS)
        if shared:
            some = ", ".join(f"{code} {title!r}" for code, title in sorted(shared)[:3])
            raise UserError(
                f"training set {name!r} shares {len(shared)} product(s) with the test set's "
                f"{study.test_split!r} split (e.g. {some}): a model would be tested on rows it trained "
                "on; use another test set"
            )
    return ready


def _needed(study: Study, names: list[str]) -> set[str]:
    needed: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        source = study.train_set(name).source
        stack += list(source.mix)
        fit = source.synth_args().get("fit")
        if fit in {t.name for t in study.train}:
            stack.append(fit)
    return needed


def _codes(path: Path, splits) -> set[tuple[int, str]]:
    """The (product code, title) pairs of these splits: a row shared with the test set is the same product
    under the same title (synthetic sets drawn with other seeds may reuse a code for another product)."""
    present = available_splits(path)
    codes: set[tuple[int, str]] = set()
    for split in splits:
        if split in present:
            frame = read_split(path, split)
            codes |= set(zip(frame["product_code"].astype(int), frame["title"].astype(str), strict=True))
    return codes


def _prepare(study: Study, out: Path, name: str, source: Source, ready: dict, quiet: bool, say) -> Prepared:
    if source.kind == "data" and not source.rows:
        path = Path(source.path)
        return Prepared(name, path, layout.dataset_fingerprint(path), _rows(path))
    target = data_dir(out) / name
    definition = _definition(source, ready)
    record_path = data_dir(out) / f"{name}.json"
    # another job of this study may be making it: wait for it (the lock of the record, as the writer of
    # the dir takes the dir's own)
    with OutputLock(record_path).acquire(wait=True):
        record = _read_record(record_path)
        if (
            record.get("definition") == definition
            and target.is_dir()
            and record.get("fingerprint") == layout.dataset_fingerprint(target)
        ):
            return Prepared(name, target, record["fingerprint"], _rows(target))
        say(f"data {name}: making it under {target}")
        _make(source, target, ready, quiet)
        fingerprint = layout.dataset_fingerprint(target)
        write_json_atomically(record_path, {"definition": definition, "fingerprint": fingerprint})
    return Prepared(name, target, fingerprint, _rows(target))


def _definition(source: Source, ready: dict[str, Prepared]) -> str:
    """What the made dir depends on: the source's description and the content of what it is made from."""
    parts: dict[str, Any] = {"source": source.describe()}
    parents = list(source.mix) + [source.synth_args().get("fit")]
    parts["from"] = {p: ready[p].fingerprint for p in parents if p in ready}
    if source.kind == "data":
        parts["from"] = {source.path: layout.dataset_fingerprint(Path(source.path))}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _read_record(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _rows(path: Path) -> dict[str, int]:
    return {split: len(read_split(path, split)) for split in available_splits(path)}


def _make(source: Source, target: Path, ready: dict[str, Prepared], quiet: bool) -> None:
    if source.kind == "synth":
        from datagen.config import SynthConfig
        from datagen.synth.run import synthesize

        args = source.synth_args()
        fit = args.pop("fit", None)
        if fit is not None:
            args["profile"] = str(_fit(ready[fit].path if fit in ready else Path(fit), target))
        synthesize(SynthConfig(out=str(target), overwrite=True, quiet=quiet, **args))
    elif source.kind == "data":
        _write_rows(
            target, _sample(Path(source.path), source.rows, source.seed), f"a sample of {source.path}"
        )
    else:
        frames: dict[str, list] = {split: [] for split in TRAINING_SPLITS}
        for part in source.mix:
            for split in TRAINING_SPLITS:
                if split in available_splits(ready[part].path):
                    frames[split].append(read_split(ready[part].path, split))
        _write_rows(target, frames, "the union of " + ", ".join(source.mix))


def _fit(source: Path, target: Path) -> Path:
    """The profile `datagen fit` learns from ``source``'s train and validation splits only (its test split
    stays unseen, as the study's test set may be drawn from it), with every source title guarded as
    `datagen fit` guards them (synthesis redraws a title the source has, test split included)."""
    import pandas as pd

    from datagen.fit.copies import guard_titles
    from datagen.fit.holdout import codes_digest
    from datagen.fit.profile import fit_table

    present = available_splits(source)
    frames = [read_split(source, s) for s in TRAINING_SPLITS if s in present]
    profile = fit_table(pd.concat(frames, ignore_index=True), name=f"fit:{source.name}", source=str(source))
    every = pd.concat([read_split(source, s) for s in present], ignore_index=True)
    salt = codes_digest(every["product_code"].astype(np.int64).to_numpy())[:16]
    profile, _ = guard_titles(profile, every["title"].astype(str), salt)
    path = target.parent / f"{target.name}.profile.json"
    write_json_atomically(path, profile.to_dict())
    return path


def _sample(path: Path, rows: int, seed: int) -> dict[str, list]:
    """``rows`` of the train split drawn with ``seed`` (in their original order), and the validation split."""
    train = read_split(path, "train")
    if rows > len(train):
        raise UserError(f"{path} has {len(train)} training rows, fewer than the {rows} asked for")
    keep = np.sort(np.random.default_rng(seed).choice(len(train), size=rows, replace=False))
    frames = {"train": [train.iloc[keep]]}
    if "validation" in available_splits(path):
        frames["validation"] = [read_split(path, "validation")]
    return frames


def _write_rows(target: Path, frames: dict[str, list], what: str) -> None:
    """A DATASET dir of these rows (a product that appears twice is kept once, where it first appears)."""
    from contracts.dataset.images import image_bytes
    from contracts.dataset.writer import DatasetWriter, card_header
    from study import __version__

    skipped, seen = 0, set()
    with DatasetWriter(target, overwrite=True) as writer:
        for split, parts in frames.items():
            for frame in parts:
                for record in frame.to_dict(orient="records"):
                    if int(record["product_code"]) in seen:  # the same product in two parts of a mix
                        skipped += 1
                        continue
                    seen.add(int(record["product_code"]))
                    row = {c: record[c] for c in COLUMN_NAMES}
                    writer.add(split, row, image_bytes(record[IMAGE_PATH]))  # a file or a parquet row
        counts = writer.split_counts()
        info = {
            "generator": GENERATOR,
            "version": __version__,
            "made_from": what,
            "counts": counts,
            "duplicates_skipped": skipped,
        }
        card = "\n".join(
            [
                *card_header(target.name, counts),
                f"# {target.name}",
                "",
                f"Made by `study run`: {what}.",
                f"Products that appeared twice were kept once ({skipped} skipped).",
                "",
            ]
        )
        writer.finish(info, card)
