"""What gets trained: all weights (full), LoRA adapters through peft, or LoRA over a 4-bit base (QLoRA).

Module names follow the published checkpoint: decoder linears under ``model.layers.N.{self_attn,mlp}`` (fused
``qkv_proj``, ``o_proj``, ``gate_up_proj``, ``down_proj``), the image encoder under
``model.vision_embed_tokens.img_processor`` and its projection under
``model.vision_embed_tokens.img_projection``. With the vision tower unfrozen, LoRA also covers the CLIP
linears and the projection (Microsoft's recipe).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from contracts.errors import UserError
from finetune.config import TrainConfig

VISION_PREFIX = "model.vision_embed_tokens."
VISION_TOWER_PREFIX = VISION_PREFIX + "img_processor."  # the CLIP tower (not the projection or separators)


def check_qlora_possible() -> None:
    """Raises UserError unless a CUDA device and bitsandbytes are present."""
    if not torch.cuda.is_available():
        raise UserError(
            "--method qlora needs a CUDA GPU (its 4-bit weights run through bitsandbytes): "
            "use --method lora or --method full on this machine"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError("--method qlora needs bitsandbytes: pip install 'phi3v-catalogue[gpu]'") from None


def freeze_for_full(model: nn.Module, freeze_vision: bool) -> None:
    """Full fine-tuning: everything trains except, on request, the CLIP tower (not its projection)."""
    for name, p in model.named_parameters():
        if freeze_vision and name.startswith(VISION_TOWER_PREFIX):
            p.requires_grad_(False)


def lora_target_modules(model: nn.Module, targets: list[str], freeze_vision: bool) -> list[str]:
    """Full names of the linear layers that get adapters.

    Raises:
        UserError: no decoder module matches ``targets``.
    """
    chosen, decoder_linears = [], set()
    trainable_vision = {
        n for n, p in model.named_parameters() if p.requires_grad and n.startswith(VISION_PREFIX)
    }
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if name.startswith(VISION_PREFIX):
            # only CLIP layers that are read (the model freezes the rest) and the projection
            if not freeze_vision and f"{name}.weight" in trainable_vision:
                chosen.append(name)
            continue
        decoder_linears.add(name.rsplit(".", 1)[-1])
        if name.rsplit(".", 1)[-1] in targets:
            chosen.append(name)
    if not any(not n.startswith(VISION_PREFIX) for n in chosen):
        raise UserError(
            f"--lora-targets {','.join(targets)} matches no layer of the model: "
            f"its linear layers are {', '.join(sorted(decoder_linears))}"
        )
    return chosen


def apply_lora(model: nn.Module, cfg: TrainConfig, *, under_autocast: bool = False) -> nn.Module:
    """Wrap ``model`` with LoRA adapters; only the adapters train.

    The adapters keep fp32 weights (peft's default, for the optimizer's precision). ``under_autocast``: the
    run computes under bf16 autocast, so peft's cast of each adapter's input to fp32 (a copy per layer, then
    dropout in fp32, then autocast's cast back to bf16 for the matmul) is switched off: the adapters read
    the bf16 activations as they are.
    """
    from peft import LoraConfig, get_peft_model

    targets = lora_target_modules(model, cfg.lora_target_list(), bool(cfg.freeze_vision))
    config = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    if cfg.method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
    peft_model = get_peft_model(model, config)
    if under_autocast:
        for module in peft_model.modules():
            if hasattr(module, "cast_input_dtype_enabled"):
                module.cast_input_dtype_enabled = False
    return peft_model


def quantize_4bit(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace the decoder's linear layers (not lm_head, not the vision tower) by NF4 bitsandbytes layers
    on ``device``.

    The weights are quantized when the layer moves to the GPU; compute runs in bf16.
    """
    import bitsandbytes as bnb

    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or name.startswith(VISION_PREFIX) or name.endswith("lm_head"):
            continue
        q = bnb.nn.Linear4bit(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            compute_dtype=torch.bfloat16,
            quant_type="nf4",
            quant_storage=torch.bfloat16,
        )
        q.weight = bnb.nn.Params4bit(module.weight.data.cpu(), requires_grad=False, quant_type="nf4")
        if module.bias is not None:
            q.bias = nn.Parameter(module.bias.data, requires_grad=False)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, q)
    return model.to(device)


def merged_state_dict(peft_model: nn.Module) -> dict[str, torch.Tensor]:
    """The base model's state dict with the adapters merged in, under the base model's own names.

    The adapters are merged, copied out and unmerged again, so training could go on with the same model.
    """
    peft_model.merge_adapter()
    try:
        base = peft_model.get_base_model()
        return {
            k.replace(".base_layer.", "."): v.detach().to("cpu", copy=True)
            for k, v in base.state_dict().items()
            if ".lora_" not in k
        }
    finally:
        peft_model.unmerge_adapter()


def save_merged(peft_model: nn.Module, dest: Path) -> None:
    """Write merged full weights to ``dest`` (no peft needed to load) and the adapters to ``dest/adapter``."""
    from contracts import run_layout as names

    base = peft_model.get_base_model()
    base.save_pretrained(dest, state_dict=merged_state_dict(peft_model))
    peft_model.save_pretrained(dest / names.ADAPTER_DIR)
