"""The parts the recipe (loop.py) assembles: model and method, optimizer and schedule, encoded data, exports.

Kept out of loop.py so the recipe reads top to bottom in one sitting.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import platform
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from contracts.dataset.reader import IMAGE_PATH, load_image
from contracts.errors import UserError
from contracts.task import build_answer
from finetune import checkpoint as ckpt
from finetune import data as D
from finetune import distributed as dist
from finetune import flops as FL
from finetune import lora
from finetune import run_layout as names
from finetune.config import TrainConfig
from finetune.presets import PRESETS, load_model
from finetune.tracking import Sample

# Dense bf16 peak of one GPU (vendor datasheets), for model FLOPs utilisation; unknown GPUs get no MFU.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 70e12,
    "L4": 121e12,
}
MAX_ANSWER_TOKENS = 96


@dataclass
class ModelFlops:
    """What MFU needs: the model's shape and how each part trains (``finetune.flops``), and FSDP's units."""

    shape: FL.ModelShape
    modes: FL.MethodModes
    params: int
    layer_classes: tuple[type, ...]  # FSDP wraps each of these

    def batch(self, batch: dict[str, torch.Tensor], crop_size: int) -> float:
        """Model FLOPs of one collated micro-batch (padding excluded)."""
        total = 0.0
        image_tokens = (batch["input_ids"] < 0).sum(1).tolist()
        lengths = batch["attention_mask"].sum(1).tolist()
        heads = (batch["labels"][:, 1:] != -100).sum(1).tolist()
        sizes = batch["image_sizes"].tolist()
        for n, img, head, (h, w) in zip(lengths, image_tokens, heads, sizes, strict=True):
            crops = 1 + (h // crop_size) * (w // crop_size)
            tokens = FL.SampleTokens(text_tokens=n - img, image_tokens=img, crops=crops, head_tokens=head)
            total += FL.training_flops(self.shape, tokens, self.modes).total
        return total


def check_method(cfg: TrainConfig) -> None:
    """Refuse an unknown model spec, or QLoRA where it cannot run, before anything is written.

    Raises:
        UserError: naming the flag and the fix.
    """
    spec = cfg.model
    if not (spec in PRESETS or Path(spec).expanduser().is_dir() or re.fullmatch(r"[\w.-]+/[\w.-]+", spec)):
        raise UserError(
            f"--model {spec!r} is no preset ({', '.join(PRESETS)}), model dir or hub id (owner/name)"
        )
    if cfg.method == "qlora":
        lora.check_qlora_possible()


def build_model(
    cfg: TrainConfig, train_frame: pd.DataFrame, device: torch.device
) -> tuple[nn.Module, Any, ModelFlops]:
    """Load the model and processor, apply the method (full / LoRA / QLoRA), move to ``device``."""
    corpus = None
    if cfg.is_tiny:
        corpus = D.tokenizer_corpus(train_frame, D.answer_texts(train_frame, build_answer))
    # LoRA keeps the frozen base in bf16 on GPUs; full fine-tuning keeps fp32 master weights (autocast
    # computes in bf16)
    dtype = torch.bfloat16 if cfg.method in ("lora", "qlora") and device.type == "cuda" else torch.float32
    model, processor = load_model(
        cfg.model,
        dtype=dtype,
        device=None if cfg.method == "qlora" else device,
        attn_implementation=cfg.attn_implementation,
        seed=cfg.seed,
        corpus=corpus,
        overrides=model_overrides(cfg),
    )
    model.config.use_cache = False
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.method == "full":
        lora.freeze_for_full(model, bool(cfg.freeze_vision))
    else:
        if cfg.method == "qlora":
            model = lora.quantize_4bit(model, device)
        model = lora.apply_lora(model, cfg)
    return model, processor, _flops(model, cfg)


# The tiny preset as the embedded default trains it (benchmarks/train_default.py): 14-px patches on one 112-px
# crop plus the global view (41 image tokens), 2 CLIP layers read, a 2-layer decoder (dropout 0.2). The
# from-scratch image encoder needs epochs (with the training images mirrored at random, --mirror) and the
# 14-px patches to read the finer cues of the title (pattern, product line): 28-px patches with 3 layers read
# and 120 warm-up epochs took about as long (10.0 against 10.8 min) for a title score of 79.4 against 82.9.
TINY_DEFAULT_OVERRIDES: dict[str, Any] = {
    "num_crops": 1,
    "vision_config": {"patch_size": 14, "num_hidden_layers": 3},
    "num_hidden_layers": 2,
}


def model_overrides(cfg: TrainConfig) -> dict[str, Any]:
    """``load_model`` overrides: the tiny default's sizes, then ``--num-crops`` and ``--dropout``."""
    overrides = dict(TINY_DEFAULT_OVERRIDES) if cfg.is_tiny else {}
    if cfg.num_crops:
        overrides["num_crops"] = cfg.num_crops
    if cfg.dropout is not None:
        overrides["resid_pdrop"] = cfg.dropout
    return overrides


def _flops(model: nn.Module, cfg: TrainConfig) -> ModelFlops:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    modes = FL.method_modes(
        "full" if cfg.method == "full" else "lora",
        freeze_vision=bool(cfg.freeze_vision),
        lora_rank=cfg.lora_rank if cfg.method != "full" else 0,
        lora_targets=tuple(cfg.lora_target_list()),
    )
    wanted = set(getattr(base, "_no_split_modules", None) or ())
    classes = {type(m) for m in model.modules() if type(m).__name__ in wanted}
    params = sum(p.numel() for p in model.parameters())
    return ModelFlops(FL.shape_from_config(base.config), modes, params, tuple(classes))


def peak_flops(device: torch.device) -> float | None:
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def build_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; no weight decay on norms, biases, the text embedding and separators; the image encoder's CLIP
    tower at ``lr * vision_lr_ratio``, everything else (the projection and separators included) at ``lr``;
    fused kernels on CUDA and CPU (on CPU a fifth of the per-tensor loop's time for the tiny default)."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # the text embedding is a lookup table; the vision tower's patch/position embeddings are weights
        plain = p.ndim < 2 or name.endswith(("embed_tokens.weight", "_GN"))
        groups.setdefault((plain, lora.VISION_TOWER_PREFIX in name), []).append(
            p
        )  # DDP names start "module."
    ratio = cfg.vision_lr_ratio or 1.0
    param_groups = [
        {
            "params": params,
            "weight_decay": 0.0 if plain else cfg.weight_decay,
            "lr": cfg.lr * (ratio if vision else 1.0),
        }
        for (plain, vision), params in sorted(groups.items())
    ]
    fused = device.type in ("cuda", "cpu") or None
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, 0.95), fused=fused)


def lr_factor(step: int, *, warmup: int, total: int, floor: float) -> float:
    """Linear warm-up to 1, then cosine decay to ``floor`` at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total: int):
    warmup = min(cfg.warmup_steps, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup=warmup, total=total, floor=cfg.min_lr_ratio)
    )


def processor_files(processor: Any) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        processor.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}


def encode_splits(
    cfg: TrainConfig, run: Path, frames: dict[str, pd.DataFrame], processor: Any, dataset: dict, procs
) -> tuple[D.EncodedSplit, D.EncodedSplit]:
    """Train and validation splits encoded once (RUN/.cache); the main process writes the cache first.

    A split keeps its processed images when they fit ``--pixel-memory-gib``; otherwise it keeps the text and
    image sizes, and its images are transformed again whenever they are batched (``D.image_source``)."""
    files = processor_files(processor)
    images = processor.image_processor
    disable = True if cfg.quiet or not procs.is_main else None  # None: a bar on terminals only
    encoded = []
    threads = torch.get_num_threads()
    # Per-image work is small tensors: more threads only add synchronisation (10x slower on a busy machine).
    torch.set_num_threads(1)
    try:
        for split in (D.TRAIN, D.VALIDATION):
            frame = frames[split]
            keep = D.fits_in_memory(len(frame), images, cfg.pixel_memory_gib)

            def encode(frame: pd.DataFrame = frame, split: str = split, keep: bool = keep) -> D.EncodedSplit:
                def bar(items: Iterable) -> Iterable:
                    return tqdm(items, desc=f"encode {split}", unit="img", disable=disable, leave=False)

                answers = D.answer_texts(frame, build_answer)
                return D.encode_split(
                    frame, answers, processor.encode_example, progress=bar, keep_pixels=keep
                )

            key = D.cache_key(dataset["fingerprint"], split, files) + ("" if keep else "-text")
            if procs.is_main:
                encoded.append(D.load_or_encode(run / names.CACHE_DIR, key, encode))
            procs.barrier()
            if not procs.is_main:
                encoded.append(D.load_or_encode(run / names.CACHE_DIR, key, encode))
    finally:
        torch.set_num_threads(threads)
    for split, enc in zip((D.TRAIN, D.VALIDATION), encoded, strict=True):
        if not enc.keeps_pixels:
            enc.source = D.image_source(frames[split], images)
    return encoded[0], encoded[1]


def run_record(cfg: TrainConfig) -> dict[str, Any]:
    """RUN/config.json: the resolved config, the command and the versions that ran it."""
    versions = {"python": platform.python_version()}
    for package in ("phi3v-catalogue", "torch", "transformers", "peft", "tokenizers", "safetensors"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"train": cfg.to_dict(), "command": sys.argv, "versions": versions}


@torch.no_grad()
def sample_predictions(
    model: nn.Module, processor: Any, frame: pd.DataFrame, cfg: TrainConfig, device: torch.device
) -> list[Sample]:
    """Greedy answers for the first validation images (the W&B table of the reference recipe)."""
    was_training = model.training
    model.eval()
    samples = []
    for _, row in frame.head(cfg.sample_predictions).iterrows():
        image = load_image(row[IMAGE_PATH])
        enc = processor.encode_example(image, None)
        ids = enc["input_ids"][None].to(device)
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            pixel_values=enc["pixel_values"][None].to(device),
            image_sizes=enc["image_sizes"][None].to(device),
            max_new_tokens=MAX_ANSWER_TOKENS,
            do_sample=False,
            use_cache=True,
        )
        thumb = image.copy()
        thumb.thumbnail((256, 256))
        samples.append(
            Sample(
                image=thumb,
                target=build_answer(row["title"], row["category3_code"], row["full_price"]),
                prediction=processor.decode_answer(out[0, ids.shape[1] :]),
                file_name=str(row["file_name"]),
            )
        )
    model.train(was_training)
    return samples


def export_model(
    wrapped: nn.Module, processor: Any, dest: Path, cfg: TrainConfig, procs, *, merge: bool
) -> None:
    """Write ``dest`` atomically: full weights (full fine-tuning), adapters (LoRA), or merged weights +
    adapters.

    What ``dest`` holds loads with ``finetune.presets.load_model(dest)``, except an adapters-only dir
    (LoRA with
    ``merge=False``, the best checkpoint during training), which ``finalize_best`` merges at the end.
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers' "Writing model shards" bar would break ours
    model = dist.unwrap(wrapped)
    state = dist.trainable_state(wrapped) if dist.is_fsdp(wrapped) and cfg.method == "full" else None
    if procs.is_main:

        def fill(d: Path) -> None:
            if cfg.method == "full":
                model.save_pretrained(d, state_dict=state) if state is not None else model.save_pretrained(d)
            elif merge and cfg.method == "qlora":
                _save_merged_qlora(model, cfg, d)
            elif merge:
                lora.save_merged(model, d)
            else:
                model.save_pretrained(d / names.ADAPTER_DIR)
            processor.save_pretrained(d)

        ckpt.write_dir(dest, fill)
    procs.barrier()


def finalize_best(wrapped: nn.Module, processor: Any, dest: Path, cfg: TrainConfig, procs) -> None:
    """For LoRA runs, turn RUN/best (adapters) into merged weights like RUN/model (full runs need nothing)."""
    if cfg.method == "full" or not (dest / names.ADAPTER_DIR).is_dir():
        return
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    model = dist.unwrap(wrapped)
    set_peft_model_state_dict(model, load_file(dest / names.ADAPTER_DIR / "adapter_model.safetensors"))
    export_model(wrapped, processor, dest, cfg, procs, merge=True)


def _save_merged_qlora(peft_model: nn.Module, cfg: TrainConfig, dest: Path) -> None:
    """Merging into 4-bit weights loses precision: merge the adapters into a bf16 copy of the base instead."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    base, _ = load_model(
        cfg.model, dtype=torch.bfloat16, device="cpu", attn_implementation=cfg.attn_implementation
    )
    as_lora = lora.apply_lora(base, dataclasses.replace(cfg, method="lora"))
    set_peft_model_state_dict(as_lora, {k: v.cpu() for k, v in get_peft_model_state_dict(peft_model).items()})
    lora.save_merged(as_lora, dest)
    peft_model.save_pretrained(dest / names.ADAPTER_DIR)
