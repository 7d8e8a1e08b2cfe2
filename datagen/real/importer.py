"""`datagen real`: bring a DBQ-schema table (hub dataset or local file) into a DATASET dir with its images.

Steps: load the table; check and coerce every row to the 17 columns (columns outside the schema go to a
sidecar); leave out rows that cannot be used (no image URL, duplicate product code, values of the wrong
type); fetch the images into the cache and leave out rows whose image failed; split with the shared split
function and write the dir atomically. Every row left out is listed with its reason in ``failures.jsonl``;
one bad row never stops the import.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from contracts.dataset import layout
from contracts.dataset.split import assign_splits
from contracts.dataset.writer import DatasetWriter, card_header
from contracts.errors import UserError
from datagen import __version__
from datagen.config import ImportConfig
from datagen.real.download import FetchSettings, ImageCache, download_workers, fetch_all
from datagen.real.rows import check_rows, failure_record
from datagen.real.sources import hub_revision, load_file, load_hub
from datagen.words import quantity

_RUN_ONLY_FIELDS = ("cache_dir", "workers", "overwrite", "quiet")
JPEG_QUALITY = 95  # only for images that do not arrive as JPEG; JPEGs are kept byte for byte


@dataclass
class ImportResult:
    """What an import did: the dir it wrote and its counts (cache figures vary by run: not in the dir)."""

    out: Path
    rows_read: int
    imported: int
    failed_by_reason: dict[str, int]
    urls: int
    cache_hits: int
    downloaded: int
    split_counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(self.failed_by_reason.values())


# -- images --------------------------------------------------------------------------------------------------
def as_jpeg(path: Path) -> bytes:
    """The image file's bytes if it is a JPEG, else the image re-encoded as RGB JPEG (alpha over white)."""
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG":
            return data
        img.load()
        if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            rgb = Image.new("RGB", rgba.size, (255, 255, 255))
            rgb.paste(rgba, mask=rgba.getchannel("A"))
        else:
            rgb = img.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _progress(total: int, quiet: bool, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="img", disable=quiet or not sys.stderr.isatty(), leave=False)


# -- the command ---------------------------------------------------------------------------------------------
def _source(cfg: ImportConfig) -> tuple[list[dict], dict]:
    if cfg.from_file is not None:
        path = Path(cfg.from_file).expanduser()
        records = load_file(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return records, {"kind": "file", "file": path.name, "sha256": digest}
    assert cfg.dataset is not None
    records = load_hub(cfg.dataset, cfg.split, cfg.revision)
    return records, {
        "kind": "hub",
        "dataset": cfg.dataset,
        "split": cfg.split,
        "revision": hub_revision(cfg.dataset, cfg.revision) or cfg.revision,
    }


def _card(info: dict) -> str:
    """The dataset card (README.md): where the rows came from, what was left out and why, how to load it."""
    source = info["source"]
    if source["kind"] == "hub":
        origin = f"the Hugging Face dataset `{source['dataset']}` (split `{source['split']}`"
        origin += f", revision `{source['revision']}`)" if source.get("revision") else ", revision unknown)"
    else:
        origin = f"the local file `{source['file']}` (sha256 `{source['sha256']}`)"
    lines = card_header("Imported product catalogue (DBQ schema)", info["split_counts"])
    lines += [
        "# Imported product catalogue (DBQ schema)",
        "",
        f"Imported by `datagen real` {info['version']} from {origin}.",
        "",
        f"- rows read: {info['rows_read']}",
        f"- rows imported: {info['rows']} ("
        + ", ".join(f"{s} {n}" for s, n in info["split_counts"].items())
        + f"; split seed {info['seed']}, stratified by category3_code)",
        f"- rows left out: {info['failed']}"
        + (
            " (" + ", ".join(f"{r}: {n}" for r, n in info["failed_by_reason"].items()) + ")"
            if info["failed"]
            else ""
        ),
        f"  each listed with its reason in `{layout.FAILURES_FILE}`",
    ]
    if info["extra_columns"]:
        lines.append(
            f"- columns outside the DBQ schema, kept in `{layout.EXTRA_COLUMNS_FILE}` by product_code: "
            + ", ".join(f"`{c}`" for c in info["extra_columns"])
        )
    lines += [
        "",
        f"Each split folder holds `{layout.METADATA_FILE}` (file_name plus the 17 DBQ columns) and one",
        "JPEG per row, named by its product code. Load it with",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("imagefolder", data_dir="<this dir>")',
        "```",
        "",
        "The data keeps the licence and terms of its source.",
        "",
    ]
    return "\n".join(lines)


def _jsonl(records: Iterable[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records).encode("utf-8")


def run_import(cfg: ImportConfig) -> ImportResult:
    """Import the table ``cfg`` names into ``cfg.out``; see the module docstring for the steps.

    Raises:
        UserError: the source cannot be read or breaks the schema, or ``cfg.out`` cannot be used.
    """
    with DatasetWriter(cfg.out, overwrite=cfg.overwrite) as writer:  # checks --out before any download
        records, source = _source(cfg)
        if cfg.limit is not None:
            records = records[: cfg.limit]
        checked = check_rows(records)
        failures = list(checked.failures)

        cache = ImageCache(cfg.cache_dir)
        settings = FetchSettings(timeout=cfg.timeout, retries=cfg.retries, backoff=cfg.backoff, seed=cfg.seed)
        urls = [str(row["imageurl"]).strip() for _, row, _ in checked.rows]
        with _progress(len(set(urls)), cfg.quiet, "images") as bar:
            fetched = fetch_all(
                urls, cache, settings, workers=download_workers(cfg.workers), progress=bar.update
            )

        good: list[tuple[int, dict, dict, Path]] = []
        for (index, row, extra), url in zip(checked.rows, urls, strict=True):
            result = fetched[url]
            if result.ok:
                assert result.path is not None
                good.append((index, row, extra, result.path))
            else:
                failures.append(failure_record(index, row, result.reason or "error", result.detail or ""))

        splits = assign_splits(
            [int(row["product_code"]) for _, row, _, _ in good],
            [str(row["category3_code"]) for _, row, _, _ in good],
            seed=cfg.seed,
        )
        for (_, row, extra, path), split in zip(good, splits, strict=True):
            writer.add(split, row, as_jpeg(path))
            if checked.extra_columns:
                code = int(row["product_code"])
                writer.add_sidecar_record(layout.EXTRA_COLUMNS_FILE, code, {"product_code": code, **extra})

        failures.sort(key=lambda f: f["row"])
        by_reason = dict(sorted(Counter(f["reason"] for f in failures).items()))
        writer.add_extra_file(layout.FAILURES_FILE, _jsonl(failures))
        # Flags that change how the import runs, not what it writes, stay out: reruns match byte for byte.
        config = {k: v for k, v in asdict(cfg).items() if k not in _RUN_ONLY_FIELDS}
        info = {
            "generator": "datagen real",
            "version": __version__,
            "source": source,
            "config": config,
            "seed": cfg.seed,
            "rows_read": len(records),
            "rows": len(good),
            "failed": len(failures),
            "failed_by_reason": by_reason,
            "extra_columns": checked.extra_columns,
            "split_counts": writer.split_counts(),
        }
        out = writer.finish(info, _card(info))
    results = list(fetched.values())
    if not good:
        raise UserError(
            f"imported 0 of {quantity(len(records), 'row')}: every row was left out ("
            + ", ".join(f"{r} {n}" for r, n in by_reason.items())
            + f"); the reasons are in {out / layout.FAILURES_FILE}. Fix what they name (network, image "
            "server, the table), then run again with --overwrite"
        )
    return ImportResult(
        out=out,
        rows_read=len(records),
        imported=len(good),
        failed_by_reason=by_reason,
        urls=len(results),
        cache_hits=sum(r.from_cache for r in results),
        downloaded=sum(r.ok and not r.from_cache for r in results),
        split_counts=info["split_counts"],
    )
