"""`datagen synth-merge DIR`: finish a sharded run whose N jobs wrote into DIR (``datagen.synth.shards``).

Everything is checked before anything is written: one manifest per job 1..N, all of one run (generator,
version, layout, arguments, profile), every file a manifest lists present with its size, in the imagefolder
layout every image of every job's rows present, and no file of the data folders that no job wrote. Then the
merge writes the index (``dataset_info.json``) and the card, and in the imagefolder layout each split's
``metadata.parquet`` from the jobs' parts; it copies no image and no data file, so its time does not depend
on the images' size. The result is byte-identical to the run without ``--shard``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from contracts.dataset import layout
from contracts.dataset.files import FileRecord
from contracts.dataset.writer import info_bytes
from contracts.errors import UserError
from contracts.outputs import OutputLock, remove_leftovers_inside, write_files_atomically
from datagen.catalogue.profile import CatalogueProfile
from datagen.synth.card import build_info, render_card
from datagen.synth.shards import RUN_KEYS, describe_difference, manifest_name, read_manifests
from datagen.synth.sink import metadata_writer
from datagen.words import quantity


def _rerun(label: str) -> str:
    return f"run that job again (`datagen synth ... --shard {label.split()[-1]} --overwrite`)"


def _check_manifests(root: Path) -> tuple[list[dict], int]:
    """The manifests of jobs 1..N in order, and N; the first problem raises, naming its shard."""
    found = read_manifests(root)
    if not found:
        raise UserError(
            f"{root} holds no shard manifests ({layout.SHARDS_DIR}/shard-*.json): run the jobs "
            "`datagen synth --shard I/N --out DIR` first"
        )
    counts = sorted({manifest_name(p)[1] for p in found})  # type: ignore[index]
    if len(counts) > 1:
        raise UserError(
            f"{root} holds shards of runs in {counts[0]} and in {counts[1]} jobs: keep the shards of one run"
        )
    count = counts[0]
    by_index = {manifest_name(p)[0]: (p, m) for p, m in found.items()}  # type: ignore[index]
    run = None
    for index in range(1, count + 1):
        label = f"shard {index}/{count}"
        if index not in by_index:
            raise UserError(
                f"{label} is missing (no {layout.shard_manifest(index, count)} in {root}): run it, or wait "
                "for it to finish"
            )
        path, manifest = by_index[index]
        if manifest is None or any(
            k not in manifest for k in (*RUN_KEYS, "shard", "files", "split_counts", "split_bytes")
        ):
            raise UserError(f"{path} is not a shard manifest of this version: {_rerun(label)}")
        identity = {k: manifest[k] for k in RUN_KEYS}
        if run is None:
            run = identity
        elif identity != run:
            differs = describe_difference(run, identity)
            raise UserError(
                f"{label} comes from another run than shard 1/{count} ({differs}): merge one run's shards"
            )
    from datagen import __version__

    if run["version"] != __version__:  # type: ignore[index]
        raise UserError(
            f"shard 1/{count} was written by datagen {run['version']}, this is {__version__}: merge with "  # type: ignore[index]
            "the version that wrote the shards, or write them again with this one"
        )
    return [by_index[i][1] for i in range(1, count + 1)], count  # type: ignore[misc]


def _check_files(root: Path, manifests: list[dict], count: int) -> None:
    """Every listed file is there with its size; nothing else is in the data and latents folders."""
    listed: dict[str, set[str]] = {layout.DATA_DIR: set(), layout.LATENTS_DIR: set()}
    for index, manifest in enumerate(manifests, 1):
        label = f"shard {index}/{count}"
        for record in [*manifest["files"], *manifest.get("parts", [])]:
            path = root / record["path"]
            if not path.is_file():
                raise UserError(f"{label} lacks its file {record['path']}: {_rerun(label)}")
            if path.stat().st_size != record["bytes"]:
                raise UserError(
                    f"{label}'s file {record['path']} has {path.stat().st_size} bytes, its manifest says "
                    f"{record['bytes']}: {_rerun(label)}"
                )
            folder, _, name = record["path"].partition("/")
            listed.get(folder, set()).add(name)
    for folder, names in listed.items():
        if not (root / folder).is_dir():
            continue
        stray = sorted(
            p.name for p in (root / folder).iterdir() if p.name not in names and not p.name.startswith(".")
        )
        if stray:
            raise UserError(
                f"{root / folder / stray[0]} belongs to no shard of this run (left by another run?): "
                "remove it, or start the run in a new dir"
            )


def _check_images(root: Path, manifests: list[dict], count: int) -> None:
    """Imagefolder layout: every image of every job's rows is there, and no other image."""
    import pyarrow.parquet as pq

    expected = dict.fromkeys(layout.SPLITS, 0)
    for index, manifest in enumerate(manifests, 1):
        label = f"shard {index}/{count}"
        for record in manifest.get("parts", []):
            split = Path(record["path"]).stem
            folder = root / split
            names = pq.read_table(root / record["path"], columns=["file_name"]).column(0).to_pylist()
            for name in names:
                if not os.path.isfile(folder / name):
                    raise UserError(f"{label} lacks its image {split}/{name}: {_rerun(label)}")
            expected[split] += len(names)
    for split, n in expected.items():
        folder = root / split
        if folder.is_dir():
            have = sum(1 for e in os.scandir(folder) if e.name.endswith(layout.IMAGE_EXT))
            if have != n:
                raise UserError(
                    f"{folder} holds {quantity(have - n, 'image')} that no shard of this run wrote "
                    "(left by another run?): remove them, or start the run in a new dir"
                )


def _check_profile(root: Path, run: dict) -> CatalogueProfile:
    path = root / layout.PROFILE_FILE
    try:
        profile = CatalogueProfile.load(str(path))
    except UserError:
        raise UserError(f"{path} is missing or unreadable: run any one shard again to rewrite it") from None
    if profile.fingerprint != run["profile"]["fingerprint"]:
        raise UserError(f"{path} is not the profile the shards were made with: run any shard again")
    return profile


def _join_parts(root: Path, manifests: list[dict]) -> list[FileRecord]:
    """Imagefolder layout: each split's metadata file, the jobs' parts in job order (bounded memory)."""
    import pyarrow.parquet as pq

    records = []
    for split in layout.SPLITS:
        parts = [
            root / r["path"] for m in manifests for r in m.get("parts", []) if Path(r["path"]).stem == split
        ]
        if not parts:
            continue
        writer = metadata_writer(root, f"{split}/{layout.METADATA_FILE}")
        try:
            for part in parts:
                for batch in pq.ParquetFile(part).iter_batches(batch_size=10_000):
                    for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                        writer.add(row)
            records.append(writer.close())
        except BaseException:
            writer.abort()
            raise
    return records


def merge_shards(data_dir: str | Path) -> tuple[Path, int, bool]:
    """Finish the sharded run in ``data_dir``: check every job's files, write the index and the card.

    Returns:
        (the dataset dir, the number of shards merged, whether it was already merged before).

    Raises:
        UserError: ``data_dir`` is not a sharded run, or a shard is missing, from another run or version,
            or lacks a file (one line naming it; nothing is written).
    """
    root = Path(data_dir).expanduser().absolute()
    if not root.is_dir():
        raise UserError(f"no such dir: {root} (give the --out of the `datagen synth --shard I/N` jobs)")
    with OutputLock(root, flag="DIR"):
        if (root / layout.INFO_FILE).exists() and not (root / layout.SHARDS_DIR).exists():
            return root, 0, True
        manifests, count = _check_manifests(root)
        run = {k: manifests[0][k] for k in RUN_KEYS}
        _check_files(root, manifests, count)
        if run["format"] == layout.IMAGEFOLDER:
            _check_images(root, manifests, count)
        profile = _check_profile(root, run)

        files = [r for m in manifests for r in m["files"]]
        if run["format"] == layout.IMAGEFOLDER:
            files += _join_parts(root, manifests)
        split_counts = {s: sum(m["split_counts"].get(s, 0) for m in manifests) for s in layout.SPLITS}
        split_bytes = {s: sum(m["split_bytes"].get(s, 0) for m in manifests) for s in layout.SPLITS}
        info = build_info(run["args"], profile, split_counts, split_bytes, files)
        write_files_atomically(
            {
                root / layout.INFO_FILE: info_bytes(info),
                root / layout.CARD_FILE: render_card(info).encode("utf-8"),
            },
            flag="DIR",
        )
        shutil.rmtree(root / layout.SHARDS_DIR, ignore_errors=True)
        for folder in (
            root,
            root / layout.DATA_DIR,
            root / layout.LATENTS_DIR,
            *(root / s for s in layout.SPLITS),
        ):
            remove_leftovers_inside(folder)
    return root, count, False
