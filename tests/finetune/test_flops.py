"""Model FLOPs counting against hand-computed numbers for a tiny shape, and against the real module tree."""

from __future__ import annotations

import pytest
import torch

from finetune import flops as F
from phi3v.modeling import Phi3VForCausalLM
from phi3v.presets import build_config

# decoder: hidden 8, intermediate 16, 2 layers, 2 query heads of 4, 1 KV head, vocab 10
DEC = F.DecoderShape(hidden=8, intermediate=16, layers=2, heads=2, kv_heads=1, vocab=10)
# vision: width 4, mlp 8, 1 layer used, 28-px crops of 14-px patches (2x2 grid -> 1 merged token per crop)
VIS = F.VisionShape(
    hidden=4, intermediate=8, layers_used=1, image_size=28, patch=14, channels=3, text_hidden=8
)
SHAPE = F.ModelShape(decoder=DEC, vision=VIS)
# 3 text + 2 image tokens, 2 crops (global + 1), 1 labelled position
SAMPLE = F.SampleTokens(text_tokens=3, image_tokens=2, crops=2, head_tokens=1)


def test_parameter_counts_by_hand():
    """qkv 8x16 + o 8x8 + gate_up 8x32 + down 16x8 = 576 per layer; CLIP 4*16 + 2*32; patch 3*14*14*4."""
    assert F.decoder_linear_params(DEC) == 2 * 576
    assert F.head_params(DEC) == 80
    assert F.vision_layer_params(VIS) == 128
    assert F.patch_embed_params(VIS) == 2352
    assert F.projection_params(VIS) == 16 * 8 + 8 * 8
    assert VIS.tokens_per_crop == 5 and VIS.merged_per_crop == 1


def test_multipliers():
    """6N trained, 4N gradients flowing through a frozen weight, 2N forward only; attention 3x or 1x."""
    assert F.linear_multiplier(F.TRAIN) == 6
    assert F.linear_multiplier(F.BACKPROP) == 4
    assert F.linear_multiplier(F.FORWARD) == 2
    assert F.linear_multiplier(F.TRAIN, input_grad=False) == 4
    assert F.attention_multiplier(F.TRAIN) == F.attention_multiplier(F.BACKPROP) == 3
    assert F.attention_multiplier(F.FORWARD) == 1
    assert F.attention_forward_flops(5, 8, 2, causal=False) == 4 * 25 * 8 * 2
    assert F.attention_forward_flops(5, 8, 2, causal=True) == 4 * 25 * 8 * 2 / 2
    with pytest.raises(ValueError):
        F.linear_multiplier("frozen")


def test_full_fine_tuning_flops_by_hand():
    """Everything trains: 6N per token in each part with its own tokens, attention 3x forward."""
    modes = F.method_modes("full", freeze_vision=False)
    got = F.training_flops(SHAPE, SAMPLE, modes)
    assert got.vision_linear == 6 * 128 * (2 * 5) + 4 * 2352 * (2 * 4)  # patch embed: no input gradient
    assert got.vision_attention == 3 * 2 * (4 * 5 * 5 * 4 * 1)  # per crop, bidirectional
    assert got.projection == 6 * 192 * (2 * 1 + 2)  # merged tokens + 2 separators
    assert got.decoder_linear == 6 * 1152 * 5
    assert got.decoder_attention == 3 * (4 * 25 * 8 * 2) / 2  # causal: half
    assert got.head == 6 * 80 * 1
    assert got.adapters == 0
    assert got.total == 127_392
    noncausal = F.training_flops(SHAPE, SAMPLE, modes, causal=False)
    assert noncausal.total - got.total == 2400


def test_lora_flops_by_hand():
    """Frozen base: 4N through decoder and head, frozen vision forward only, adapters 6 per param-token."""
    modes = F.method_modes("lora", freeze_vision=True, lora_rank=2, lora_targets=("qkv_proj", "o_proj"))
    got = F.training_flops(SHAPE, SAMPLE, modes)
    assert got.vision_linear == 2 * 128 * 10 + 2 * 2352 * 8
    assert got.vision_attention == 1 * 2 * 400
    assert got.projection == 2 * 192 * 4
    assert got.decoder_linear == 4 * 1152 * 5
    assert got.decoder_attention == 3 * 800
    assert got.head == 4 * 80
    # adapters per layer: qkv 2*(8+16) + o 2*(8+8) = 80; 2 layers; 5 tokens; 6 FLOPs each
    assert got.adapters == 6 * 160 * 5
    assert got.total == 73_088


def test_full_with_frozen_vision_trains_projection_without_input_gradient():
    """freeze_vision: tower forward only (2N), projection forward + weight gradient (4N)."""
    got = F.training_flops(SHAPE, SAMPLE, F.method_modes("full", freeze_vision=True))
    assert got.vision_linear == 2 * 128 * 10 + 2 * 2352 * 8
    assert got.projection == 4 * 192 * 4


def test_text_only_sample_has_no_vision_flops():
    """The reference recipe's way feeds no image features: no crops, no vision or projection work."""
    tokens = F.SampleTokens(text_tokens=512, image_tokens=0, crops=0, head_tokens=511)
    got = F.training_flops(SHAPE, tokens, F.method_modes("full", freeze_vision=False))
    assert got.vision_linear == got.vision_attention == got.projection == 0
    assert got.decoder_linear == 6 * 1152 * 512


def test_generation_flops_by_hand():
    """Prefill (one logits row) plus 2 decode steps attending over 6 and 7 positions."""
    got = F.generation_flops(SHAPE, SAMPLE, new_tokens=3)
    assert got.decoder_linear == 2 * 1152 * 5 + 2 * 1152 * 2
    assert got.decoder_attention == 800 + 4 * 8 * 2 * (6 + 7)
    assert got.head == 2 * 80 * 3
    assert got.total == 60_768


def test_counts_match_the_module_tree():
    """The shape read from a config counts exactly the 2-D weights of the modules that run."""
    config = build_config("tiny", vocab_size=256)
    shape = F.shape_from_config(config)
    with torch.device("meta"):
        model = Phi3VForCausalLM(config)
    weights = {n: p.numel() for n, p in model.named_parameters() if p.ndim == 2}
    decoder = sum(v for n, v in weights.items() if n.startswith("model.layers."))
    assert decoder == F.decoder_linear_params(shape.decoder)
    assert weights["lm_head.weight"] == F.head_params(shape.decoder)
    used = model.model.vision_embed_tokens.num_layers_used
    assert used == shape.vision.layers_used
    prefix = "model.vision_embed_tokens.img_processor.vision_model.encoder.layers."
    vision = sum(
        v for n, v in weights.items() if n.startswith(prefix) and int(n[len(prefix) :].split(".")[0]) < used
    )
    assert vision == F.vision_layer_params(shape.vision)
    proj = sum(v for n, v in weights.items() if n.startswith("model.vision_embed_tokens.img_projection."))
    assert proj == F.projection_params(shape.vision)
    patch = model.model.vision_embed_tokens.img_processor.vision_model.embeddings.patch_embedding.weight
    assert patch.numel() == F.patch_embed_params(shape.vision)
    assert shape.vision.merged_per_crop == config.tokens_per_crop


def test_full_size_lora_costs_about_two_thirds_of_full():
    """Phi-3-Vision at 16 crops: LoRA (frozen vision) needs 50-70% of full fine-tuning's FLOPs."""
    shape = F.shape_from_config(build_config("phi3v-random"))
    tokens = F.SampleTokens(text_tokens=50, image_tokens=2509, crops=17, head_tokens=25)
    full = F.training_flops(shape, tokens, F.method_modes("full", freeze_vision=False)).total
    lora = F.training_flops(
        shape,
        tokens,
        F.method_modes("lora", freeze_vision=True, lora_rank=64, lora_targets=("qkv_proj", "o_proj")),
    ).total
    assert 0.5 < lora / full < 0.7
    assert 70e12 < full < 90e12  # ~78.5 TFLOP per sample


def test_mfu():
    assert F.mfu(1e12, 2.0, 1e12) == 0.5
    with pytest.raises(ValueError):
        F.mfu(1.0, 0.0, 1.0)


def test_batch_sample_tokens_by_hand():
    """Negative ids are image tokens, padding is dropped, labels shift by one, crops = 1 + h x w."""
    batch = {
        "input_ids": torch.tensor([[5, -1, -1, 6, 7], [5, -1, -1, 6, 0]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]),
        "labels": torch.tensor([[-100, -100, -100, -100, 7], [-100, -100, -100, 6, -100]]),
        "image_sizes": torch.tensor([[28, 56], [28, 28]]),
    }
    got = F.batch_sample_tokens(batch, crop_size=28)
    assert got == [F.SampleTokens(3, 2, 3, 1), F.SampleTokens(2, 2, 2, 1)]
    prompt = F.sample_tokens(torch.tensor([4, -1, 3]), None, None, 28)
    assert prompt == F.SampleTokens(2, 1, 0, 0)  # no image size: no crops counted
