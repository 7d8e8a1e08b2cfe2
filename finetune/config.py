"""TrainConfig: every knob of `finetune`, one field per CLI flag (``lora_rank`` <-> ``--lora-rank``).

Its defaults are generic; a recipe (``finetune.recipe``, a YAML file) sets a training setup's own values and
flags override both. ``resolve`` fills the few defaults that follow from the method (LoRA alpha, a frozen
image encoder for LoRA); the resolved config is what RUN/config.json and RUN/recipe.yaml record.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from contracts.errors import UserError
from contracts.tracking import WANDB_CHOICES, WANDB_HELP

KERNEL_CHOICES = ("auto", "liger", "off")

METHODS = ("full", "lora", "qlora")
PRECISIONS = ("auto", "bf16", "fp32")
DEFAULT_LORA_TARGETS = "qkv_proj,o_proj,gate_up_proj,down_proj"
DEFAULT_RECIPE = "tiny-cpu"


def _f(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class TrainConfig:
    """A fine-tuning run. Precedence: these defaults < the recipe < explicit flags."""

    # -- what to train on, and where the run goes
    data: str = _f("", "DATASET dir (from `datagen synth` or `datagen real`)", required=True)
    out: str = _f("", "RUN dir to create (or continue with --resume)", required=True)
    recipe: str = _f(
        "",
        "training setup: tiny-cpu (the tiny preset from scratch, any CPU), phi3v-lora, phi3v-qlora, "
        "phi3v-full (GPU), or a recipe YAML file (e.g. a RUN dir's recipe.yaml); flags override its values "
        "[finetune: tiny-cpu; TrainConfig itself: none, its own defaults]",
    )
    model: str = _f("tiny", "preset (tiny, phi3v, phi3v-random), a local model dir or a hub id")
    method: str = _f(
        "lora",
        "what trains: full (every weight), lora (low-rank adapters, merged into RUN/model), qlora (adapters "
        "on a 4-bit base; needs bitsandbytes)",
        choices=METHODS,
    )
    resume: bool = _f(False, "continue the run in --out from its last checkpoint")
    overwrite: bool = _f(False, "replace a RUN dir this project wrote at --out")

    # -- schedule
    epochs: float = _f(2.0, "passes over the training split; see --max-steps")
    max_steps: int = _f(0, "optimizer steps to run; 0: derived from --epochs")
    batch_size: int = _f(8, "examples per device per micro-batch")
    grad_accum: int = _f(1, "micro-batches per optimizer step (global batch = batch x accum x processes)")
    lr: float = _f(2e-4, "peak learning rate")
    vision_lr_ratio: float = _f(
        1.0,
        "the image encoder's CLIP tower learns at this fraction of --lr (its projection at --lr); lower it "
        "when an encoder trained from scratch outgrows the decoder, keep 1 for a pretrained one",
    )
    min_lr_ratio: float = _f(0.05, "cosine decay floor as a fraction of --lr")
    warmup_steps: int = _f(50, "linear warm-up steps (capped at a tenth of the run)")
    weight_decay: float = _f(0.01, "AdamW weight decay (not applied to norms, biases, embeddings)")
    max_grad_norm: float = _f(1.0, "clip the global gradient norm to this; 0 disables")
    seed: int = _f(0, "seed of initialisation, data order and dropout: same seed, same run")

    # -- method
    lora_rank: int = _f(64, "LoRA rank")
    lora_alpha: float | None = _f(None, "LoRA alpha [default: 2 x rank]")
    lora_dropout: float = _f(0.05, "LoRA dropout")
    lora_targets: str = _f(DEFAULT_LORA_TARGETS, "comma-separated module names that get LoRA adapters")
    freeze_vision: bool | None = _f(
        None, "freeze the image encoder [unset: frozen for LoRA and QLoRA, trained in full fine-tuning]"
    )
    dropout: float | None = _f(None, "decoder residual dropout (unset: the model's own)")
    mirror: bool = _f(False, "mirror half the training images each epoch (seeded)")
    encoder_warmup: int = _f(
        0,
        "epochs of a first stage that trains the image encoder alone to read the answer's parts (category, "
        "title words, log price) before fine-tuning: for an encoder that starts from scratch (the tiny "
        "default), not a pretrained one; needs a trainable encoder; 0: no such stage",
    )
    ema: float = _f(
        0.0,
        "decay per step of a moving average of the trainable weights (e.g. 0.999, bias-corrected) that "
        "validation, RUN/best and RUN/model use instead of the last weights: steadier results from small, "
        "noisy batches; 0: off",
    )
    gradient_checkpointing: bool = _f(
        False, "recompute activations in the backward pass (less memory, slower)"
    )
    fit_memory: bool = _f(
        False,
        "on a GPU, choose the largest micro-batch whose step fits the GPU's memory, keeping --batch-size x "
        "--grad-accum examples per step, with activation checkpointing only if micro-batch 1 does not fit "
        "without it; the run records the choice (nothing on a CPU or under FSDP)",
    )
    pixel_memory_gib: float = _f(
        4.0,
        "keep a split's processed images in memory (and RUN/.cache) when they take at most this many GiB, "
        "else transform each image again whenever it is batched, in background threads: lower it when the "
        "host runs short of memory, raise it when those threads cannot keep up",
    )
    precision: str = _f("auto", "auto (bf16 autocast on CUDA, fp32 on CPU) | bf16 | fp32", choices=PRECISIONS)
    num_crops: int | None = _f(None, "upper bound of the HD crop grid [default: the preset's]")
    attn_implementation: str | None = _f(
        None,
        "attention kernel (flash_attention_2 needs the flash-attn package) [default: sdpa]",
        choices=("eager", "sdpa", "flash_attention_2"),
    )
    kernels: str = _f(
        "auto",
        "fused kernels: auto (liger-kernel's Phi-3 RMSNorm, SwiGLU and RoPE on a GPU when installed) | liger "
        "(required) | off",
        choices=KERNEL_CHOICES,
    )
    compile: bool = _f(False, "torch.compile each decoder and CLIP layer (compiles during the first steps)")
    fsdp: bool | None = _f(
        None,
        "shard weights, gradients and optimizer state across GPUs with FSDP (CUDA, several processes under "
        "torchrun) [default: on for full fine-tuning of models over 1B parameters]",
    )

    # -- validation, checkpoints, logging
    eval_every: int = _f(0, "validate every N optimizer steps; 0: once per epoch")
    save_every: int = _f(0, "checkpoint every N optimizer steps; 0: at each validation")
    keep_last: int = _f(2, "checkpoints kept in RUN/checkpoints (the best is kept apart in RUN/best)")
    log_every: int = _f(10, "write train loss/lr/throughput every N optimizer steps")
    max_val_examples: int = _f(0, "cap on validation examples per validation; 0: the whole split")
    sample_predictions: int = _f(8, "validation images whose generated answers are logged at each validation")
    threads: int = _f(
        0,
        "torch CPU threads; 0: on CPU the idle cores (at most 4) shared by its processes, else the default",
    )
    wandb: str = _f("auto", WANDB_HELP + "; metrics.jsonl is always written", choices=WANDB_CHOICES)
    wandb_project: str = _f("phi3v-catalogue", "W&B project name")
    quiet: bool = _f(False, "no progress bar and no summary")
    stop_after: int = _f(
        0, "checkpoint and stop after N optimizer steps of this invocation (time-sliced jobs); 0: off"
    )

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.grad_accum >= 1, "--grad-accum must be at least 1"),
            (self.max_steps >= 0, "--max-steps must be 0 or more"),
            (math.isfinite(self.epochs) and self.epochs > 0, "--epochs must be > 0"),
            (self.vision_lr_ratio > 0, "--vision-lr-ratio must be positive"),
            (self.dropout is None or 0.0 <= self.dropout < 1.0, "--dropout must lie in [0, 1)"),
            (self.encoder_warmup >= 0, "--encoder-warmup must be 0 or more"),
            (0.0 <= self.ema < 1.0, "--ema must lie in [0, 1) (the average's decay per step; 0: off)"),
            (
                math.isfinite(self.pixel_memory_gib) and self.pixel_memory_gib >= 0,
                "--pixel-memory-gib must be 0 or more (0: never keep processed images)",
            ),
            (math.isfinite(self.lr) and self.lr > 0, "--lr must be a positive number"),
            (0.0 <= self.min_lr_ratio <= 1.0, "--min-lr-ratio must lie in [0, 1]"),
            (self.warmup_steps >= 0, "--warmup-steps must be 0 or more"),
            (self.weight_decay >= 0, "--weight-decay must be 0 or more"),
            (self.max_grad_norm >= 0, "--max-grad-norm must be 0 or more (0 disables clipping)"),
            (self.lora_rank >= 1, "--lora-rank must be at least 1"),
            (self.lora_alpha is None or self.lora_alpha > 0, "--lora-alpha must be positive"),
            (0.0 <= self.lora_dropout < 1.0, "--lora-dropout must lie in [0, 1)"),
            (bool(self.lora_target_list()), "--lora-targets needs at least one module name"),
            (
                self.num_crops is None or self.num_crops >= 1,
                "--num-crops must be at least 1 (the HD grid bound)",
            ),
            (self.eval_every >= 0 and self.save_every >= 0, "--eval-every/--save-every must be 0 or more"),
            (self.keep_last >= 1, "--keep-last must be at least 1"),
            (self.log_every >= 1, "--log-every must be at least 1"),
            (self.max_val_examples >= 0, "--max-val-examples must be 0 or more"),
            (self.sample_predictions >= 0, "--sample-predictions must be 0 or more"),
            (self.threads >= 0, "--threads must be 0 or more"),
            (self.stop_after >= 0, "--stop-after must be 0 or more"),
            (
                not (self.resume and self.overwrite),
                "--resume and --overwrite contradict each other: pick one",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        choice_fields = (("method", METHODS), ("precision", PRECISIONS), ("wandb", WANDB_CHOICES))
        for name, choices in (*choice_fields, ("kernels", KERNEL_CHOICES)):
            value = getattr(self, name)
            if value is not None and value not in choices:
                raise UserError(f"--{name} {value!r} is not one of {', '.join(choices)}")

    def computes_in_bf16(self, device_type: str) -> bool:
        """Whether the run computes under bf16 autocast on a device of ``device_type`` (``--precision``)."""
        return self.precision == "bf16" or (self.precision == "auto" and device_type == "cuda")

    def lora_target_list(self) -> list[str]:
        return [t.strip() for t in self.lora_targets.split(",") if t.strip()]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve(cfg: TrainConfig) -> TrainConfig:
    """Fill the defaults that follow from the method (LoRA alpha, a frozen image encoder for LoRA and QLoRA)
    and refuse settings that cannot go together.

    Raises:
        UserError: an encoder warm-up with a frozen encoder, or a weight average under FSDP.
    """
    freeze_vision = cfg.freeze_vision if cfg.freeze_vision is not None else cfg.method != "full"
    if cfg.encoder_warmup and (cfg.method != "full" or freeze_vision):
        raise UserError(
            "--encoder-warmup trains the image encoder, which this run keeps frozen: "
            "use it with --method full (without --freeze-vision), or pass --encoder-warmup 0"
        )
    if cfg.ema and cfg.fsdp:
        # said before the RUN dir is claimed; FSDP chosen automatically is caught when the model is wrapped
        raise UserError("--ema does not work with FSDP's sharded weights: pass --ema 0, or --no-fsdp")
    return dataclasses.replace(
        cfg,
        lora_alpha=cfg.lora_alpha if cfg.lora_alpha is not None else 2.0 * cfg.lora_rank,
        freeze_vision=freeze_vision,
    )


# Fields that may differ between a run and its --resume (they do not change what is computed).
RESUMABLE_CHANGES = frozenset(
    {
        "data",
        "out",  # a RUN dir may move
        "resume",
        "overwrite",
        "quiet",
        "threads",
        "wandb",
        "wandb_project",
        "stop_after",
        "recipe",  # the saved run's values are compared field by field below
        "pixel_memory_gib",  # where the pixels are made changes no result
    }
)


# The fields --fit-memory chooses. On --resume of a run that chose them, flags asking for the same examples
# per step agree with its choice: the first invocation's flags (--batch-size 8, split as 4 x 2) resume it.
FITTED_FIELDS = frozenset({"batch_size", "grad_accum", "gradient_checkpointing"})

# What a run saved before a field existed ran with: resuming it keeps that, not today's default.
ABSENT_IN_OLDER_RUNS: dict[str, Any] = {"ema": 0.0, "fit_memory": False}
# Fields older runs saved that this version no longer has, with the value under which nothing is lost.
REMOVED_FIELDS: dict[str, Any] = {"shift": 0.0, "token_noise": 0.0}


def merge_for_resume(saved: dict[str, Any], cfg: TrainConfig, baseline: TrainConfig) -> TrainConfig:
    """The config a --resume continues with: the saved run's values, except flags that may change.

    ``baseline`` is what ``cfg`` would be without any flag (its recipe's values). A field equal to it was not
    set, and takes the saved value; one set to something else than the saved run used is refused, because
    the resumed run would no longer end where the uninterrupted one would.

    Raises:
        UserError: a flag conflicts with the saved run, or the run used a setting this version lacks.
    """
    lost = [k for k, off in REMOVED_FIELDS.items() if saved.get(k, off) != off]
    if lost:
        raise UserError(
            f"the run in --out used --{lost[0].replace('_', '-')}, which this version no longer has: it "
            "cannot be resumed exactly; start a new run with --overwrite"
        )
    values: dict[str, Any] = {}
    conflicts = []
    saved = {**ABSENT_IN_OLDER_RUNS, **saved}
    fitted = (
        saved["fit_memory"] and cfg.batch_size * cfg.grad_accum == saved["batch_size"] * saved["grad_accum"]
    )
    for name in TrainConfig.__dataclass_fields__:
        value = getattr(cfg, name)
        if name in RESUMABLE_CHANGES or name not in saved:
            values[name] = value
        elif value == getattr(baseline, name) or value == saved[name] or (fitted and name in FITTED_FIELDS):
            values[name] = saved[name]
        else:
            conflicts.append(f"--{name.replace('_', '-')} {value!r} (the run used {saved[name]!r})")
    if conflicts:
        raise UserError(
            f"--resume continues the run with its own settings, but these flags differ: "
            f"{'; '.join(conflicts)}: "
            "drop them, or start a new run with --overwrite"
        )
    return resolve(TrainConfig(**values))
