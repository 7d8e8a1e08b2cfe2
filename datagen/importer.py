"""`datagen real`: bring a DBQ-schema table (hub dataset or local file) into a DATASET dir with its images.

Steps: load the table; check and coerce every row to the 17 columns (columns outside the schema go to a
sidecar); leave out rows that cannot be used (no image URL, duplicate product code, values of the wrong
type); fetch the images into the cache and leave out rows whose image failed; split with the shared split
function and write the dir atomically. Every row left out is listed with its reason in ``failures.jsonl``;
one bad row never stops the import.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import math
import numbers
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, NOT_AVAILABLE, missing_columns
from contracts.dataset.split import assign_splits
from contracts.dataset.writer import DatasetWriter
from contracts.errors import UserError
from datagen import __version__
from datagen.download import FetchSettings, ImageCache, fetch_all
from datagen.real_config import ImportConfig

_RUN_ONLY_FIELDS = ("cache_dir", "workers", "overwrite", "quiet")
PRICE_COLUMNS = ("full_price", "price", "full_price_eur", "price_eur")
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


# -- loading -------------------------------------------------------------------------------------------------
def _read_json_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        records = json.loads(text)
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path}:{lineno}: not valid JSON ({exc.msg}): fix the line") from None
    if not all(isinstance(r, dict) for r in records):
        raise UserError(f"{path}: every record must be a JSON object with the DBQ columns")
    return records


def load_file(path: str | Path) -> list[dict]:
    """Rows of a local parquet, CSV or JSONL/JSON file, as dicts of Python values (no type coercion yet).

    CSV cells are read as text (``N.A.`` and empty cells stay strings) and coerced later by the schema.

    Raises:
        UserError: the file is missing or unreadable.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"no such file: {path} (--from expects a parquet, CSV or JSONL file)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path).to_dict("records")
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
            return frame.to_dict("records")
        return _read_json_records(path)
    except UserError:
        raise
    except Exception as exc:  # pyarrow, the csv parser and the codecs each raise their own types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot read {path} as {suffix[1:]}: {reason}") from None


def load_hub(hub_id: str, split: str, revision: str | None = None) -> list[dict]:
    """Rows of a Hugging Face hub dataset split.

    Raises:
        UserError: the dataset or split cannot be loaded (unknown id, no network, no such split), in one line.
    """
    # The hub client logs each of its retries; the user gets one line instead, from the UserError below.
    quiet = [logging.getLogger(name) for name in ("huggingface_hub", "datasets")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        import datasets

        ds = datasets.load_dataset(hub_id, split=split, revision=revision)
    except Exception as exc:  # the hub client raises many types; the user needs the reason, not the trace
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(
            f"cannot load {hub_id!r} (split {split!r}) from the Hugging Face hub: {reason}; "
            "check the id, the split and your network, or import a local file with --from FILE"
        ) from None
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return ds.to_list()


def hub_revision(hub_id: str, revision: str | None) -> str | None:
    """The commit sha the hub reports for the dataset, or None when it cannot be asked (offline)."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(hub_id, revision=revision, timeout=10).sha
    except Exception:
        return None


# -- checking rows -------------------------------------------------------------------------------------------
def _is_missing(value: object) -> bool:
    return (
        value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"
    )


def _coerce_value(value: object, dtype: str) -> object:
    """``value`` as the schema's Python type, or raise ValueError saying why it cannot be."""
    if dtype == "string":
        if isinstance(value, str):
            return value
        if _is_missing(value):
            return NOT_AVAILABLE  # the DBQ data's own placeholder for a missing value
        if isinstance(value, dt.datetime) and value.time() == dt.time(0):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"should be a string, got {type(value).__name__} {value!r}")
    if _is_missing(value):
        raise ValueError(f"should be {dtype}, got an empty value")
    if isinstance(value, bool):
        raise ValueError(f"should be {dtype}, got bool {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text) if dtype == "int64" else float(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"should be {dtype}, got text {value!r}") from None
        value = number
    if not isinstance(value, numbers.Real):
        raise ValueError(f"should be {dtype}, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"should be a finite {dtype}, got {value!r}")
    if dtype == "int64":
        if float(value) != int(value):
            raise ValueError(f"should be a whole number (int64), got {value!r}")
        return int(value)
    return float(value)


def _json_safe(value: object) -> object:
    if _is_missing(value):
        return None
    if isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


@dataclass
class CheckedRows:
    """Rows split into those worth fetching an image for and those already left out."""

    rows: list[tuple[int, dict, dict]]  # (input index, the 17 columns coerced, extra columns)
    failures: list[dict]
    extra_columns: list[str]


def _failure(index: int, raw: dict, reason: str, detail: str) -> dict:
    return {
        "row": index,
        "product_code": _json_safe(raw.get("product_code")),
        "title": _json_safe(raw.get("title")),
        "imageurl": _json_safe(raw.get("imageurl")),
        "reason": reason,
        "detail": detail,
    }


def coerce_rows(records: list[dict]) -> CheckedRows:
    """Coerce every row to the schema's types; rows with a value that does not fit are failures.

    Rules: a missing column is an error for the whole table; so is a mistyped column (none of its values fits
    its dtype). A row with a value that does not fit is left out (``invalid_value``); a missing string value
    becomes ``N.A.``, the DBQ data's placeholder.

    Raises:
        UserError: the table is empty, lacks columns, or has a mistyped column.
    """
    if not records:
        raise UserError("the table has no rows: nothing to import")
    columns = list(dict.fromkeys(c for r in records for c in r))
    missing = missing_columns(columns)
    if missing:
        raise UserError(
            f"the table lacks column(s) {', '.join(missing)}: a DBQ table needs all 17 columns "
            f"({', '.join(COLUMN_NAMES)})"
        )
    extra = [c for c in columns if c not in COLUMNS]

    kept: list[tuple[int, dict, dict]] = []
    failures: list[dict] = []
    bad_per_column: Counter[str] = Counter()
    first_bad: dict[str, str] = {}
    for index, raw in enumerate(records):
        row, problems = {}, []
        for name, dtype in COLUMNS.items():
            try:
                row[name] = _coerce_value(raw.get(name), dtype)
            except ValueError as exc:
                problems.append(f"column {name!r} {exc}")
                bad_per_column[name] += 1
                first_bad.setdefault(name, str(exc))
        if problems:
            failures.append(_failure(index, raw, "invalid_value", "; ".join(problems)))
        else:
            kept.append((index, row, {c: _json_safe(raw.get(c)) for c in extra}))
    mistyped = [c for c in COLUMN_NAMES if bad_per_column[c] == len(records)]
    if mistyped:
        details = "; ".join(f"{c!r} {first_bad[c]}" for c in mistyped)
        raise UserError(f"mistyped column(s): {details}: fix the table's types (see datagen/schema.py)")
    return CheckedRows(rows=kept, failures=failures, extra_columns=extra)


def check_rows(records: list[dict]) -> CheckedRows:
    """``coerce_rows``, then leave out the rows an import cannot use.

    A repeated product code keeps its first row (``duplicate_product_code``); a row whose price is zero or
    negative (``invalid_price``) or whose imageurl is not an http(s) URL, such as ``N.A.``
    (``no_image_url``), is left out.

    Raises:
        UserError: as ``coerce_rows``.
    """
    checked = coerce_rows(records)
    kept: list[tuple[int, dict, dict]] = []
    failures = list(checked.failures)
    seen: set[int] = set()
    for index, row, extra in checked.rows:
        code = int(row["product_code"])
        url = str(row["imageurl"]).strip()
        if code in seen:
            failures.append(
                _failure(index, row, "duplicate_product_code", f"product_code {code} seen before")
            )
        elif not all(row[c] > 0 for c in PRICE_COLUMNS):
            prices = ", ".join(f"{c} {row[c]!r}" for c in PRICE_COLUMNS if not row[c] > 0)
            failures.append(_failure(index, row, "invalid_price", f"{prices}: a price must be positive"))
        elif not url.lower().startswith(("http://", "https://")):
            failures.append(_failure(index, row, "no_image_url", f"imageurl {url!r} is not an http(s) URL"))
        else:
            kept.append((index, row, extra))
        seen.add(code)
    failures.sort(key=lambda f: f["row"])
    return CheckedRows(rows=kept, failures=failures, extra_columns=checked.extra_columns)


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
    splits = [s for s in layout.SPLITS if info["split_counts"].get(s)]
    # The same YAML header as synthetic cards, so `datasets.load_dataset(DIR)` reads both alike.
    lines = [
        "---",
        "pretty_name: Imported product catalogue (DBQ schema)",
        "configs:",
        "- config_name: default",
    ]
    lines += ["  data_files:", *[f"  - split: {s}\n    path: {s}/*" for s in splits], "---"]
    lines += [
        "",
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
            fetched = fetch_all(urls, cache, settings, workers=cfg.workers, progress=bar.update)

        good: list[tuple[int, dict, dict, Path]] = []
        for (index, row, extra), url in zip(checked.rows, urls, strict=True):
            result = fetched[url]
            if result.ok:
                assert result.path is not None
                good.append((index, row, extra, result.path))
            else:
                failures.append(_failure(index, row, result.reason or "error", result.detail or ""))

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
            f"imported 0 of {len(records)} rows: every row was left out ("
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
