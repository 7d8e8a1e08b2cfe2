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
DEFAULT_MAX_NEW_TOKENS = (
    96  # the answer budget where --max-new-tokens is 0 and no answers size one (foreign models)
)


@dataclass
class EvalConfig:
    """Score one or several systems (and the baselines) on one split of a DATASET dir."""

    model: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "what to evaluate (required; repeat it for several, all on the same rows): a RUN dir "
            "(from finetune), a preset (tiny, phi3v, phi3v-random), a model dir or hub id, hf:ID_OR_DIR "
            "(any transformers vision-language model), openai:NAME (an OpenAI-compatible endpoint, see "
            "--base-url), or a baseline (majority, nearest, probe, oracle)"
        },
    )
    data: str | None = field(
        default=None, metadata={"help": "the DATASET dir to score (from datagen synth / datagen real)"}
    )
    split: str = field(default="test", metadata={"help": "the split to score"})
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
        metadata={"help": "baselines to score beside the models: 'all', 'none', or a comma list"},
    )
    batch_size: int = field(default=32, metadata={"help": "examples per generation batch"})
    max_new_tokens: int = field(
        default=0,
        metadata={
            "help": "generation length limit; 0 = the longest training answer plus a margin (our models), "
            f"{DEFAULT_MAX_NEW_TOKENS} tokens (hf: and openai: models)"
        },
    )
    num_crops: int = field(
        default=0, metadata={"help": "upper bound of the HD crop grid for our models (0: the model's own)"}
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
    device: str = field(
        default="auto",
        metadata={
            "help": "device for the models: auto (CUDA when there, else the CPU), cpu, cuda, mps"
        },  # fmt: skip
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "model dtype: auto (bfloat16 on a GPU that supports it, else the checkpoint's own, "
            "float32 for random presets), float32, bfloat16, float16"
        },
    )
    threads: int = field(
        default=0,
        metadata={
            "help": "the CPU threads for generation, at most the cores available; 0 = auto: one for a small "
            "model on the CPU (faster: extra threads spin-wait on tiny matmuls), torch's default otherwise"
        },
    )
    compile: bool = field(
        default=False,
        metadata={
            "help": "decode on the static KV cache with a compiled decode step (CUDA graphs on a GPU): a GPU "
            "lever, compiling outlasts a short CPU run. Where refused, decodes without it and a note says why"
        },
    )
    prompt: str | None = field(
        default=None,
        metadata={
            "help": "a text file with the prompt for hf: and openai: models (default: the task's question "
            "plus one instruction stating the answer's format, contracts/task.py)"
        },
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "let an hf: model run the code its repository ships (only for code you trust)"},
    )
    base_url: str | None = field(
        default=None,
        metadata={
            "help": "the OpenAI-compatible server of openai: models, e.g. http://127.0.0.1:8000/v1 (default: "
            "OPENAI_BASE_URL, else OpenAI's); the key comes from OPENAI_API_KEY when set"
        },
    )
    concurrency: int = field(default=8, metadata={"help": "requests in flight per openai: model"})
    request_timeout: float = field(
        default=60.0, metadata={"help": "seconds an openai: request may take before it is retried"}
    )
    retries: int = field(
        default=4,
        metadata={
            "help": "retries of an openai: request (with backoff) after a 429, a 5xx or a time-out; then the "
            "row counts as unanswered and the run goes on"
        },
    )
    no_cache: bool = field(
        default=False,
        metadata={"help": "ask hf: and openai: models every row again instead of reusing stored answers"},
    )
    cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "where answers of hf: and openai: models are stored (default: "
            "$XDG_CACHE_HOME/phi3v-catalogue/responses, or ~/.cache/...)"
        },
    )
    from_predictions: str | None = field(
        default=None,
        metadata={
            "help": "re-score and re-render from a predictions.jsonl (no model, no dataset needed): its rows "
            "hold every system's raw answers; metadata comes from the metrics.json beside it"
        },
    )
    wandb: str = field(
        default="auto",
        metadata={
            "help": WANDB_HELP + "; without --report, offline logging has nowhere to go and is skipped"
        },
    )
    wandb_project: str = field(default="phi3v-catalogue", metadata={"help": "the W&B project's name"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace the report files of an earlier evaluate at --report"}
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        self.model = (self.model,) if isinstance(self.model, str) else tuple(self.model or ())
        if self.from_predictions is not None:
            given = [f for f, v in (("--model", self.model), ("--data", self.data)) if v]
            if given:
                raise UserError(
                    f"--from-predictions re-scores recorded answers: {' and '.join(given)} cannot apply; "
                    "drop them, or evaluate without --from-predictions"
                )
        elif self.data is None:
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
        for name in ("batch_size", "concurrency"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("max_new_tokens", "limit", "bootstrap", "gallery", "threads", "num_crops", "retries"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if not self.request_timeout > 0:
            raise UserError(f"--request-timeout must be more than 0 seconds, got {self.request_timeout}")
        if not self.model and self.from_predictions is None:
            raise UserError(
                "--model is required: a RUN dir from finetune, a preset (tiny, phi3v), a model dir or hub "
                "id, hf:ID_OR_DIR, openai:NAME, or a baseline alone (majority, nearest, probe, oracle)"
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


@dataclass
class ServeConfig:
    """Serve one system behind OpenAI's chat completions API (``serve``)."""

    model: str | None = field(
        default=None,
        metadata={
            "help": "what to serve (required): a RUN dir, a preset, a model dir or hub id, hf:ID_OR_DIR, or "
            "a baseline (with --data)"
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "the address to listen on"})
    port: int = field(default=8000, metadata={"help": "the port to listen on (0: any free port)"})
    name: str | None = field(
        default=None, metadata={"help": "the model's id at /v1/models (default: the system's own name)"}
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "a DATASET dir whose train split baselines learn from and sizes our models' answer "
            "budget (optional for models)"
        },
    )
    checkpoint: str = field(
        default="final", metadata={"help": "for a RUN dir: 'final' (RUN/model) or 'best' (RUN/best)"}
    )
    batch_size: int = field(default=32, metadata={"help": "requests answered together at most"})
    batch_wait_ms: float = field(
        default=5.0, metadata={"help": "how long a request waits for others to share its batch"}
    )
    max_new_tokens: int = field(
        default=0,
        metadata={
            "help": "answer length limit when a request names none; 0 = the longest training answer plus a "
            f"margin with --data, else {DEFAULT_MAX_NEW_TOKENS}"
        },
    )
    num_crops: int = field(
        default=0, metadata={"help": "upper bound of the HD crop grid for our models (0: the model's own)"}
    )
    mirror: str = field(
        default="auto", metadata={"help": "as evaluate --mirror: auto follows how a RUN dir was trained"}
    )
    device: str = field(default="auto", metadata={"help": "as evaluate --device"})
    dtype: str = field(default="auto", metadata={"help": "as evaluate --dtype"})
    threads: int = field(default=0, metadata={"help": "as evaluate --threads"})
    compile: bool = field(default=False, metadata={"help": "as evaluate --compile"})
    prompt: str | None = field(default=None, metadata={"help": "as evaluate --prompt (hf: models)"})
    trust_remote_code: bool = field(default=False, metadata={"help": "as evaluate --trust-remote-code"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars and no request log"})

    def __post_init__(self) -> None:
        if not self.model:
            raise UserError(
                "--model is required: a RUN dir, a preset, a model dir or hub id, or hf:ID_OR_DIR"
            )
        if self.model == "oracle":
            raise UserError(
                "the oracle answers from the dataset's records, not from an image: it cannot be served"
            )
        if self.model.startswith("openai:"):
            raise UserError("serve --model openai:NAME: an endpoint is served already; give a model to serve")
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port must be between 0 and 65535, got {self.port}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.batch_wait_ms < 0:
            raise UserError(f"--batch-wait-ms must be 0 or more, got {self.batch_wait_ms}")

    def eval_config(self) -> EvalConfig:
        """The settings of the served system, as ``evaluate`` would load it (no split is read: the rows are
        the requests'; ``data`` only lends its train split)."""
        return EvalConfig(
            model=(self.model,),
            data=self.data or "",
            checkpoint=self.checkpoint,
            baselines="none",
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            num_crops=self.num_crops,
            mirror=self.mirror,
            device=self.device,
            dtype=self.dtype,
            threads=self.threads,
            compile=self.compile,
            prompt=self.prompt,
            trust_remote_code=self.trust_remote_code,
            no_cache=True,  # a server answers what it is asked
            wandb="off",
            quiet=self.quiet,
        )
