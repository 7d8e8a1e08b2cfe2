"""``SynthConfig``: the arguments of ``datagen synth``, one field per flag, validated on creation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from contracts.errors import UserError

MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024


def _help(text: str) -> dict:
    return {"help": text}


@dataclass
class SynthConfig:
    """Arguments of ``datagen synth``; flags map one to one onto fields (``image_size``: ``--image-size``)."""

    out: str | None = field(default=None, metadata=_help("Output DATASET dir (required)."))
    rows: int = field(default=3040, metadata=_help("Number of products (the real US dataset has 3,040)."))
    seed: int = field(
        default=0, metadata=_help("Seed: the same arguments and seed give byte-identical files.")
    )
    image_size: int = field(
        default=336,
        metadata=_help(f"Image side in pixels ({MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE}; Phi-3-V crops are 336)."),
    )
    workers: int = field(
        default=0, metadata=_help("Rendering processes; 0 = one per CPU core. Output is the same.")
    )
    shard: str | None = field(
        default=None,
        metadata=_help("Write only shard I of N ('I/N', 1-based); `datagen synth-merge` joins the N dirs."),
    )
    profile: str | None = field(
        default=None,
        metadata=_help("Catalogue profile JSON (e.g. from `datagen fit`); default: built-in US."),
    )
    eur_rate: float | None = field(
        default=None, metadata=_help("USD->EUR rate for the *_eur columns; default: the profile's (0.9225).")
    )
    overwrite: bool = field(
        default=False, metadata=_help("Replace a DATASET dir this project wrote at --out (nothing else).")
    )
    quiet: bool = field(default=False, metadata=_help("No progress bar and no summary line."))

    def __post_init__(self) -> None:
        if isinstance(self.rows, bool) or not isinstance(self.rows, int) or self.rows <= 0:
            raise UserError(f"--rows must be a positive whole number, got {self.rows!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UserError(f"--seed must be a non-negative whole number, got {self.seed!r}")
        if not isinstance(self.image_size, int) or not MIN_IMAGE_SIZE <= self.image_size <= MAX_IMAGE_SIZE:
            raise UserError(
                f"--image-size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, "
                f"got {self.image_size!r}"
            )
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

    def shard_rows(self) -> range:
        """Row indices of this shard: a contiguous block, so shards 1..N cover 0..rows-1 exactly once."""
        i, n = self.shard_spec
        return range((i - 1) * self.rows // n, i * self.rows // n)

    def content_args(self) -> dict:
        """The arguments that determine the dataset's content (not where or how fast it is written)."""
        d = asdict(self)
        return {k: d[k] for k in ("rows", "seed", "image_size", "profile", "eur_rate")}


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


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SynthConfig))
DEFAULTS = SynthConfig()
