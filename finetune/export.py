"""Writing a model out of a run: RUN/model and RUN/best, each loadable on its own.

Besides weights and processor files, an export gets the published checkpoint's config keys (``auto_map``
with the base's code files when its folder holds them, ``phi3v.export_format``) and a model card
(``finetune.model_card``) from what the RUN dir records, so it loads and reads where Phi-3-Vision is used.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from contracts import run_layout as names
from finetune import checkpoint as ckpt
from finetune import distributed as dist
from finetune import lora, model_card
from finetune.config import TrainConfig
from phi3v.export_format import finish_export
from phi3v.loading import base_model_source, load_model


def export_model(
    wrapped: nn.Module, processor: Any, dest: Path, cfg: TrainConfig, procs, *, merge: bool
) -> None:
    """Write ``dest`` atomically: full weights (full fine-tuning), adapters (LoRA), or merged weights +
    adapters.

    What ``dest`` holds loads with ``phi3v.loading.load_model(dest)``, except an adapters-only dir (LoRA
    with ``merge=False``, the best checkpoint during training), which ``finalize_best`` merges at the end.
    ``dest`` is RUN/model or RUN/best: its card is written from the RUN dir around it.
    """
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # transformers' "Writing model shards" bar would break ours
    try:
        _export(wrapped, processor, dest, cfg, procs, merge=merge)
    finally:
        if shown:  # as it was: a library caller's later loads draw their bars again
            hf_logging.enable_progress_bar()


def _export(wrapped: nn.Module, processor: Any, dest: Path, cfg: TrainConfig, procs, *, merge: bool) -> None:
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
            remote_code = finish_export(d, base_folder)
            card = model_card.card_for_run(
                dest.parent,
                cfg,
                dest.name,
                base_id=base_id,
                base_folder=base_folder,
                remote_code=remote_code,
            )
            model_card.write_card(d, card)

        base_id, base_folder = base_model_source(cfg.model)
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
