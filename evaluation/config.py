"""Configuration of ``evaluate`` and ``evaluate compare``: one dataclass per command, fields = flags.

Precedence: dataclass defaults < explicit flags. The resolved config is written into ``metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.errors import UserError
from contracts.tracking import WANDB_CHOICES, WANDB_HELP

CHECKPOINTS = ("final", "best")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
MIRROR_MODES = ("auto", "on", "off")


@dataclass
class EvalConfig:
    """Score one model (and the baselines) on one split of a DATASET dir."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "what to evaluate (required): a RUN dir (from finetune), a preset (tiny, phi3v, …), a "
            "model dir or hub id, or a baseline alone (majority, nearest, probe, oracle)"
        },
    )
    data: str | None = field(
        default=None, metadata={"help": "DATASET dir (from datagen synth / datagen real)"}
    )
    split: str = field(default="test", metadata={"help": "split to score"})
    report: str | None = field(
        default=None,
        metadata={
            "help": "write OUT/report.html here (a path ending in .html, or a dir); metrics.json and "
            "predictions.jsonl go beside it. Without it, metrics are only printed"
        },
    )
    checkpoint: str = field(
        default="final", metadata={"help": "for a RUN dir: 'final' (RUN/model) or 'best' (RUN/best)"}
    )
    baselines: str = field(
        default="all",
        metadata={"help": "baselines to score beside the model: 'all', 'none', or a comma list"},
    )
    batch_size: int = field(default=32, metadata={"help": "examples per generation batch"})
    max_new_tokens: int = field(
        default=0, metadata={"help": "generation length limit; 0 = the longest training answer plus a margin"}
    )
    num_crops: int = field(
        default=0, metadata={"help": "upper bound of the HD crop grid for a model (0: the model's own)"}
    )
    mirror: str = field(
        default="auto",
        metadata={
            "help": "on: also read each image mirrored left to right and decode from the mean of the two "
            "views' log-probabilities (twice the generation time); auto: on for a RUN dir trained with "
            "--mirror augmentation (the tiny default), off otherwise"
        },
    )
    limit: int = field(default=0, metadata={"help": "score only the first N rows of the split (0 = all)"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples for the 95% intervals"})
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap, the probe and the gallery sample"})
    gallery: int = field(default=12, metadata={"help": "items in each report gallery (worst, random)"})
    device: str = field(default="auto", metadata={"help": "device for the model: auto, cpu, cuda, mps"})
    dtype: str = field(default="auto", metadata={"help": "model dtype: auto (bf16 on GPU, fp32 on CPU), …"})
    threads: int = field(
        default=0,
        metadata={
            "help": "CPU threads for generation; 0 = auto: one for a small model on the CPU (faster: extra "
            "threads spin-wait on tiny matmuls), torch's default otherwise"
        },
    )
    compile: bool = field(
        default=False,
        metadata={
            "help": "decode on the static KV cache with a compiled decode step (CUDA graphs on a GPU): a GPU "
            "lever, compiling outlasts a short CPU run. Where refused, decodes without it and a note says why"
        },
    )
    from_predictions: str | None = field(
        default=None,
        metadata={
            "help": "re-score and re-render from a predictions.jsonl (no model, no dataset needed): its rows "
            "hold the model's and the baselines' raw answers; metadata comes from the metrics.json beside it"
        },
    )
    wandb: str = field(
        default="auto",
        metadata={
            "help": WANDB_HELP + "; without --report, offline logging has nowhere to go and is skipped"
        },
    )
    wandb_project: str = field(default="phi3v-catalogue", metadata={"help": "W&B project name"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace the report files of an earlier evaluate at --report"}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        if self.data is None and self.from_predictions is None:
            raise UserError(
                "--data is required: pass a DATASET dir (or --from-predictions predictions.jsonl)"
            )
        if self.checkpoint not in CHECKPOINTS:
            raise UserError(f"--checkpoint must be one of {', '.join(CHECKPOINTS)}, got {self.checkpoint!r}")
        if self.wandb not in WANDB_CHOICES:
            raise UserError(f"--wandb must be one of {', '.join(WANDB_CHOICES)}, got {self.wandb!r}")
        if self.device not in DEVICES:
            raise UserError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.mirror not in MIRROR_MODES:
            raise UserError(f"--mirror must be one of {', '.join(MIRROR_MODES)}, got {self.mirror!r}")
        if self.dtype not in DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("batch_size",):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("max_new_tokens", "limit", "bootstrap", "gallery", "threads", "num_crops"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if not self.model and self.from_predictions is None:
            raise UserError(
                "--model is required: a RUN dir from finetune, a preset (tiny, phi3v), a model dir or hub "
                "id, or a baseline alone (majority, nearest, probe, oracle)"
            )

    def baseline_names(self) -> list[str]:
        """The baselines requested by ``--baselines``, validated."""
        from evaluation.baselines import check_names

        value = self.baselines.strip().lower()
        if value in ("", "none", "off"):
            return []
        return check_names([b.strip() for b in value.split(",") if b.strip()])


@dataclass
class CompareConfig:
    """Compare evaluations of the same rows: leaderboard, paired differences, verdicts."""

    inputs: tuple[str, ...] = field(
        default=(),
        metadata={"help": "REPORT dirs (or their report.html or metrics.json), each with predictions.jsonl"},
    )
    report: str | None = field(
        default=None,
        metadata={
            "help": "write compare.html here (a path ending in .html, or a dir); comparison.json and "
            "comparison.md go beside it. Without it, the comparison is only printed"
        },
    )
    reference: str | None = field(
        default=None,
        metadata={"help": "the system the others are tested against (default: the first input's model)"},
    )
    baselines: bool = field(
        default=True, metadata={"help": "the baselines stored in the first input join as systems"}
    )
    rank_by: str = field(
        default="category_accuracy",
        metadata={"help": "the metric that orders the leaderboard (ties: the other headline metrics)"},
    )
    bootstrap: int = field(
        default=1000,
        metadata={"help": "paired bootstrap resamples (p-values are multiples of 1/(1 + N)); at least 100"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap resamples"})
    alpha: float = field(
        default=0.05, metadata={"help": "significance level of the verdicts, after Holm's correction"}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "replace the comparison files written before at --report"}
    )

    def __post_init__(self) -> None:
        from contracts.metrics import METRICS_BY_NAME

        self.inputs = tuple(self.inputs)
        if len(self.inputs) < 1:
            raise UserError(
                "evaluate compare needs at least one evaluation: evaluate compare A B … --report cmp.html"
            )
        if self.bootstrap < 100:
            raise UserError(
                f"--bootstrap must be at least 100 (p-values are multiples of 1/(1 + N)), "
                f"got {self.bootstrap}"
            )
        if not 0 < self.alpha < 1:
            raise UserError(f"--alpha must lie between 0 and 1, got {self.alpha}")
        if self.rank_by not in METRICS_BY_NAME:
            raise UserError(f"--rank-by must be one of {', '.join(METRICS_BY_NAME)}; got {self.rank_by!r}")
