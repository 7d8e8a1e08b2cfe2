"""On-disk names of a RUN dir, spelled once: ``finetune`` writes the dir; ``evaluate`` and ``serve`` read the
model in it (``phi3v.loading``), so the names stand below both.

RUN/
  config.json              resolved TrainConfig + preset + versions
  recipe.yaml              the resolved recipe (every training field), to train the same way again
  dataset.json             DATASET path, fingerprint, split row counts
  metrics.jsonl            one JSON object per logged step (train and validation)
  model/                   final weights (merged for LoRA) + tokenizer + processor files; adapter/ beside them
  best/                    the same layout, for the lowest validation loss
  checkpoints/step-000040/ trainable weights, optimizer.pt, scheduler.pt, rng.pt, trainer_state.json
  checkpoints/warmup-0040-00000/  the encoder warm-up's state, until fine-tuning has a checkpoint of its own

Beside it, `.RUN.replacement/` holds a run started with `--overwrite` until it finishes and takes RUN's place.
"""

from __future__ import annotations

import re
from pathlib import Path

from contracts.outputs import OutputKind, json_with_keys, read_json_object

CONFIG_FILE = "config.json"
RECIPE_FILE = "recipe.yaml"  # the resolved recipe: `finetune --recipe RUN/recipe.yaml` trains the same way
DATASET_FILE = "dataset.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"  # sample predictions at each validation, the twin of the W&B table
MODEL_DIR = "model"
BEST_DIR = "best"
ADAPTER_DIR = "adapter"  # inside model/ and best/ for LoRA runs: the adapters alone
CHECKPOINTS_DIR = "checkpoints"
CACHE_DIR = ".cache"  # preprocessed tensors, reused across epochs and by --resume
WANDB_DIR = "wandb"
REPLACEMENT_TAG = ".replacement"  # `.RUN.replacement`: an --overwrite run, until it takes RUN's place

# Inside one checkpoint dir.
WEIGHTS_FILE = (
    "trainable.safetensors"  # the parameters being trained: all of them (full) or the adapters (LoRA)
)
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng.pt"
EMA_FILE = "ema.safetensors"  # the weight average of --ema, when on
TRAINER_STATE_FILE = "trainer_state.json"
WARMUP_HEAD_FILE = "warmup.safetensors"  # in a warm-up checkpoint: the encoder, the head, the generator

_STEP_DIR = re.compile(r"^step-(\d+)$")
_WARMUP_DIR = re.compile(r"^warmup-(\d+)-(\d+)$")

# What a RUN dir holds: `--overwrite` replaces such a dir only, and only when it holds nothing else.
RUN_KIND = OutputKind(
    what="RUN dir",
    marker=CONFIG_FILE,
    entries=(
        CONFIG_FILE,
        RECIPE_FILE,
        DATASET_FILE,
        METRICS_FILE,
        SAMPLES_FILE,
        MODEL_DIR,
        BEST_DIR,
        CHECKPOINTS_DIR,
        CACHE_DIR,
        WANDB_DIR,
    ),
    recognise=lambda path: _is_run_record(read_json_object(path)),
)


def _is_run_record(record: dict | None) -> bool:
    """RUN/config.json as ``finetune`` writes it: the training config and the versions, ours among them."""
    if record is None or not isinstance(record.get("train"), dict):
        return False
    versions = record.get("versions")
    return isinstance(versions, dict) and "phi3v-catalogue" in versions


def replacement_of(run: str | Path) -> Path:
    """Where ``finetune --overwrite`` writes the run that replaces ``run`` once it has finished."""
    run = Path(run)
    return run.parent / f".{run.name}{REPLACEMENT_TAG}"


def is_run_dir(path: str | Path) -> bool:
    """Whether ``path`` holds a RUN dir to read (its ``config.json`` records a training config)."""
    return Path(path).is_dir() and json_with_keys("train")(Path(path) / CONFIG_FILE)


def is_our_run(path: str | Path) -> bool:
    """Whether ``path`` holds a RUN dir that ``finetune`` wrote: the only kind it continues or replaces."""
    return Path(path).is_dir() and RUN_KIND.is_ours(Path(path))


def checkpoint_name(step: int) -> str:
    """Name of the checkpoint dir for optimizer step ``step`` (zero-padded so names sort by step)."""
    return f"step-{step:06d}"


def checkpoint_step(path: str | Path) -> int | None:
    """The step a checkpoint dir name encodes, or None for anything else (temporary dirs included)."""
    match = _STEP_DIR.match(Path(path).name)
    return int(match.group(1)) if match else None


def warmup_checkpoint_name(epoch: int, batch: int) -> str:
    """Name of the encoder warm-up's checkpoint taken before ``batch`` of ``epoch`` (both from 0)."""
    return f"warmup-{epoch:04d}-{batch:05d}"


def warmup_checkpoint_position(path: str | Path) -> tuple[int, int] | None:
    """(epoch, batch) a warm-up checkpoint dir name encodes, or None for anything else."""
    match = _WARMUP_DIR.match(Path(path).name)
    return (int(match.group(1)), int(match.group(2))) if match else None
