"""The arguments of every `datagen` command, one dataclass each, one field per flag, validated on creation.

Field names equal the flag names with ``_`` for ``-`` (``image_size`` is ``--image-size``); the one exception
is ``from_file``, spelled ``--from`` on the command line because ``from`` is a Python keyword. Validation
lives in ``__post_init__`` and raises ``UserError`` naming the flag and the fix.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from contracts.errors import UserError

MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024
# finetune needs rows in train and validation, evaluate in test: the 80/10/10 split gives each split at least
# one row from 3 rows on.
MIN_ROWS = 3
# --format auto: the hub's parquet layout from this many rows on (a folder of 50,000 JPEGs is slow to list
# and to copy), the imagefolder layout below (one JPEG per product, easy to browse).
PARQUET_FROM_ROWS = 50_000
FORMAT_CHOICES = ("auto", "imagefolder", "parquet")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class SynthConfig:
    """Arguments of ``datagen synth``; flags map one to one onto fields (``image_size``: ``--image-size``)."""

    out: str | None = field(default=None, metadata=_help("output DATASET dir (required)"))
    rows: int = field(default=3040, metadata=_help("number of products (the real US dataset has 3,040)"))
    seed: int = field(
        default=0, metadata=_help("seed: the same arguments and seed give byte-identical files")
    )
    image_size: int = field(
        default=336,
        metadata=_help(f"image side in pixels ({MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE}; Phi-3-V crops are 336)"),
    )
    workers: int = field(
        default=0, metadata=_help("rendering processes; 0 = one per CPU core. Output is the same")
    )
    format: str = field(
        default="auto",
        metadata=_help(
            "layout: imagefolder (a JPEG per row), parquet (the hub's data/*.parquet shards, images inside), "
            f"or auto (parquet from {PARQUET_FROM_ROWS:,} rows)."
        ),
    )
    rows_per_file: int = field(
        default=0,
        metadata=_help(
            "rows per block; each block makes one file per split (parquet) and is one job's unit of work. "
            "0 = about 100 MB of images per train file (10,000 rows at 336 px)."
        ),
    )
    shard: str | None = field(
        default=None,
        metadata=_help(
            "write only job I of N ('I/N', 1-based) into --out, which all N jobs share; "
            "then `datagen synth-merge OUT`."
        ),
    )
    profile: str | None = field(
        default=None,
        metadata=_help("catalogue profile JSON (e.g. from `datagen fit`); default: built-in US"),
    )
    eur_rate: float | None = field(
        default=None, metadata=_help("USD->EUR rate for the *_eur columns; default: the profile's (0.9225)")
    )
    overwrite: bool = field(
        default=False, metadata=_help("replace a DATASET dir this project wrote at --out (nothing else)")
    )
    quiet: bool = field(default=False, metadata=_help("no progress bar and no summary line"))

    def __post_init__(self) -> None:
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows <= 0:
            raise UserError(f"--rows must be a positive whole number, got {self.rows!r}")
        if self.rows < MIN_ROWS:
            raise UserError(
                f"--rows {self.rows} is too few: finetune needs rows in train and validation and evaluate "
                f"in test, which takes --rows {MIN_ROWS} or more (--rows 30 splits 24/3/3)"
            )
        if self.format not in FORMAT_CHOICES:
            raise UserError(f"--format must be one of {', '.join(FORMAT_CHOICES)}, got {self.format!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed must be a non-negative whole number, got {self.seed!r}")
        if not isinstance(self.image_size, int) or not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise UserError(
                f"--image-size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, "
                f"got {self.image_size!r}"
            )
        rpf = self.rows_per_file
        if isinstance(rpf, bool) or not isinstance(rpf, int) or rpf < 0:
            raise UserError(f"--rows-per-file must be 0 (automatic) or a positive number, got {rpf!r}")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise UserError(f"--workers must be 0 (one per core) or a positive number, got {self.workers!r}")
        if self.eur_rate is not None and not self.eur_rate > 0:
            raise UserError(f"--eur-rate must be a positive number, got {self.eur_rate!r}")
        if self.shard is not None:
            parse_shard(self.shard)

    @property
    def shard_spec(self) -> tuple[int, int]:
        """(I, N), 1-based; (1, 1) when not sharded."""
        return parse_shard(self.shard) if self.shard is not None else (1, 1)

    @property
    def layout(self) -> str:
        """The layout written: ``--format``, with auto resolved by the row count."""
        if self.format != "auto":
            return self.format
        return "parquet" if self.rows >= PARQUET_FROM_ROWS else "imagefolder"

    @property
    def block_rows(self) -> int:
        """Rows per block (``--rows-per-file``), with 0 resolved by the image size."""
        if self.rows_per_file:
            return self.rows_per_file
        from datagen.synth.blocks import block_rows

        return block_rows(self.image_size)

    def content_args(self) -> dict:
        """The arguments that determine the dataset's content (not where or how fast it is written), the
        layout resolved."""
        d = asdict(self)
        keys = ("rows", "seed", "image_size", "profile", "eur_rate")
        return {**{k: d[k] for k in keys}, "format": self.layout, "rows_per_file": self.block_rows}


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4). Raises UserError for anything else."""
    parts = str(spec).split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"--shard must look like I/N (e.g. 1/4), got {spec!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"--shard I/N needs 1 <= I <= N, got {spec!r}")
    return i, n


DEFAULTS = SynthConfig()

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
    workers: int = field(
        default=0,
        metadata={
            "help": "concurrent image downloads; 0 = automatic, as for synth: 4 per CPU core, at least 8 "
            "(downloads wait on the network, not the CPU)."
        },
    )
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
        if self.workers < 0:
            raise UserError(f"--workers must be 0 (automatic) or a positive number, got {self.workers}")
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


DEFAULT_HOLDOUT = 0.2  # a fifth of the products: enough rows to judge, most of the source left to learn from


def check_holdout_fraction(fraction: object, flag: str = "--holdout") -> float:
    """``fraction`` as a float if strictly between 0 and 1, else UserError naming ``flag``."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise UserError(
            f"{flag} must be a fraction strictly between 0 and 1 (e.g. {DEFAULT_HOLDOUT}), got {fraction!r}: "
            "the fit keeps that share of the products out so `datagen compare` can judge it"
        )
    return float(fraction)


@dataclass
class FitConfig:
    """How `datagen fit` learns a catalogue profile from a DATASET dir."""

    data_dir: str = field(metadata={"help": "DATASET dir to learn from (real or imported)."})
    out: str = field(metadata={"help": "profile JSON file to write."})
    holdout: float = field(
        default=DEFAULT_HOLDOUT,
        metadata={
            "help": "share of the products kept out of the fit (by product code, stratified by category3), "
            "so `datagen compare` can judge privacy and utility against rows the fit never saw."
        },
    )
    seed: int = field(default=0, metadata={"help": "seed choosing the held-out products."})
    copies: bool = field(
        default=True,
        metadata={
            "help": "--no-copies: synthesis from the profile never emits a source title (so no source row); "
            "by default a source title is redrawn where the options allow, as a catalogue avoids repeats."
        },
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace a profile this project wrote at --out."}
    )

    def __post_init__(self) -> None:
        check_holdout_fraction(self.holdout)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed must be a non-negative whole number, got {self.seed!r}")


@dataclass
class CompareConfig:
    """How `datagen compare` measures a synthetic DATASET dir against a real one."""

    real_dir: str = field(metadata={"help": "DATASET dir of the real data."})
    synth_dir: str = field(metadata={"help": "DATASET dir of the synthetic data."})
    report: str = field(default="fidelity.html", metadata={"help": "HTML report to write (JSON beside it)."})
    holdout: str | None = field(
        default=None,
        metadata={
            "help": "DATASET dir or DBQ table of real rows the fit never saw (then REAL holds only the fit's "
            "rows); default: the holdout the synthetic data's profile records (`datagen fit --holdout`)."
        },
    )
    images: int = field(default=12, metadata={"help": "sample images shown per dataset."})
    seed: int = field(default=0, metadata={"help": "seed choosing the sample images and the metrics' draws."})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing report of ours."})
    quiet: bool = field(default=False, metadata={"help": "no progress output."})

    def __post_init__(self) -> None:
        if not 0 <= self.images <= 100:
            raise UserError(f"--images must be between 0 and 100, got {self.images}")
        if not str(self.report).lower().endswith((".html", ".htm")):
            raise UserError(f"--report {self.report}: give a file name ending in .html")
