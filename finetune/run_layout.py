"""On-disk names of a RUN dir, spelled once.

RUN/
  config.json              resolved TrainConfig + preset + versions
  dataset.json             DATASET path, fingerprint, split row counts
  metrics.jsonl            one JSON object per logged step (train and validation)
  model/                   final weights (merged for LoRA) + tokenizer + processor files; adapter/ beside them
  best/                    the same layout, for the lowest validation loss
  checkpoints/step-000040/ trainable weights, optimizer.pt, scheduler.pt, rng.pt, trainer_state.json
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_FILE = "config.json"
DATASET_FILE = "dataset.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"  # sample predictions at each validation, the twin of the W&B table
MODEL_DIR = "model"
BEST_DIR = "best"
ADAPTER_DIR = "adapter"  # inside model/ and best/ for LoRA runs: the adapters alone
CHECKPOINTS_DIR = "checkpoints"
CACHE_DIR = ".cache"  # preprocessed tensors, reused across epochs and by --resume
WANDB_DIR = "wandb"

# Inside one checkpoint dir.
WEIGHTS_FILE = (
    "trainable.safetensors"  # the parameters being trained: all of them (full) or the adapters (LoRA)
)
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng.pt"
EMA_FILE = "ema.safetensors"  # the weight average of --ema, when on
TRAINER_STATE_FILE = "trainer_state.json"
PROCESSOR_DIR = "processor"

_STEP_DIR = re.compile(r"^step-(\d+)$")
TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    """Name of the checkpoint dir for optimizer step ``step`` (zero-padded so names sort by step)."""
    return f"step-{step:06d}"


def checkpoint_step(path: str | Path) -> int | None:
    """The step a checkpoint dir name encodes, or None for anything else (temporary dirs included)."""
    match = _STEP_DIR.match(Path(path).name)
    return int(match.group(1)) if match else None
