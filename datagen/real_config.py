"""Configs of the real-data commands (`datagen real`, `fit`, `compare`): one dataclass each, fields = flags.

Field names equal the flag names with ``_`` for ``-`` (``cache_dir`` is ``--cache-dir``); the one
exception is ``from_file``, spelled ``--from`` on the command line because ``from`` is a Python keyword.
Validation lives in ``__post_init__`` and raises ``UserError`` naming the flag and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from contracts.errors import UserError

PROJECT_NAME = "phi3v-catalogue"
DEFAULT_HUB_ID = "DBQ/Burberry.Product.prices.United.States"
TABLE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/phi3v-catalogue/images``, or ``~/.cache/phi3v-catalogue/images``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, PROJECT_NAME, "images")


@dataclass
class ImportConfig:
    """How `datagen real` reads a table in the DBQ schema, fetches its images and writes a DATASET dir."""

    out: str = field(metadata={"help": "DATASET dir to write."})
    dataset: str | None = field(
        default=None, metadata={"help": f"Hugging Face hub id of a DBQ dataset, e.g. {DEFAULT_HUB_ID}."}
    )
    from_file: str | None = field(
        default=None, metadata={"help": "local parquet, CSV or JSONL file in the DBQ schema."}
    )
    split: str = field(default="train", metadata={"help": "split of the hub dataset to import."})
    revision: str | None = field(default=None, metadata={"help": "hub revision (branch, tag or commit)."})
    workers: int = field(default=8, metadata={"help": "concurrent image downloads."})
    timeout: float = field(default=10.0, metadata={"help": "seconds to wait for one image request."})
    retries: int = field(default=3, metadata={"help": "retries of an image after a transient failure."})
    backoff: float = field(default=0.5, metadata={"help": "first retry delay (s); doubles each retry."})
    cache_dir: str = field(default_factory=default_cache_dir, metadata={"help": "on-disk image cache."})
    seed: int = field(default=0, metadata={"help": "seed of the train/validation/test split."})
    limit: int | None = field(default=None, metadata={"help": "import only the first N rows (a quick look)."})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a DATASET dir this project wrote at --out."}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bar."})

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.from_file is None):
            raise UserError("give exactly one source: --dataset HUB_ID or --from FILE")
        if self.from_file is not None and Path(self.from_file).suffix.lower() not in TABLE_SUFFIXES:
            raise UserError(
                f"--from {self.from_file}: unsupported file type; use one of {', '.join(TABLE_SUFFIXES)}"
            )
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if not self.timeout > 0:
            raise UserError(f"--timeout must be a positive number of seconds, got {self.timeout}")
        if self.retries < 0:
            raise UserError(f"--retries must be 0 or more, got {self.retries}")
        if self.backoff < 0:
            raise UserError(f"--backoff must be 0 or more seconds, got {self.backoff}")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1, got {self.limit}")


@dataclass
class ProfileConfig:
    """What `datagen profile` summarises and how it prints."""

    data_dir: str = field(metadata={"help": "DATASET dir, or a parquet/CSV/JSONL table in the DBQ schema."})
    split: str | None = field(default=None, metadata={"help": "one split only (default: all rows)."})
    json: bool = field(default=False, metadata={"help": "print JSON instead of text."})


@dataclass
class FitConfig:
    """How `datagen fit` learns a catalogue profile from a DATASET dir."""

    data_dir: str = field(metadata={"help": "DATASET dir to learn from (real or imported)."})
    out: str = field(metadata={"help": "profile JSON file to write."})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a profile this project wrote at --out."}
    )


@dataclass
class CompareConfig:
    """How `datagen compare` measures a synthetic DATASET dir against a real one."""

    real_dir: str = field(metadata={"help": "DATASET dir of the real data."})
    synth_dir: str = field(metadata={"help": "DATASET dir of the synthetic data."})
    report: str = field(default="fidelity.html", metadata={"help": "HTML report to write (JSON beside it)."})
    images: int = field(default=12, metadata={"help": "sample images shown per dataset."})
    seed: int = field(default=0, metadata={"help": "seed choosing the sample images."})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing report of ours."})
    quiet: bool = field(default=False, metadata={"help": "no progress output."})

    def __post_init__(self) -> None:
        if not 0 <= self.images <= 100:
            raise UserError(f"--images must be between 0 and 100, got {self.images}")
        if not str(self.report).lower().endswith((".html", ".htm")):
            raise UserError(f"--report {self.report}: give a file name ending in .html")
