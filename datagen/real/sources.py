"""Where an import's rows come from: a local parquet, CSV or JSONL file, or a Hugging Face hub dataset."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from contracts.errors import UserError


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
