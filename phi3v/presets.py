"""Named model presets (torchtune style: each preset is a function calling one builder); a preset names one
model everywhere (``phi3v.loading.load_model`` builds or loads it).

- `tiny` (the default recipe's model): the Phi-3-Vision classes at ~2M parameters (a 3-layer CLIP with
  14-px patches on one 112-px crop plus the global view, a 2-layer decoder), random init from `seed`, with a
  tokenizer trained offline on the given corpus. Runs on any CPU.
- `phi3v`: microsoft/Phi-3-vision-128k-instruct, the real weights (hub id, or a local copy of the repository).
- `phi3v-random`: the full-size architecture with random weights and no download, for speed and memory
  benchmarks (its tokenizer is the offline tiny one: ids fit the 32,064-row vocabulary, text quality moot).

Every size is a field of the config the preset returns, so `build_config("tiny", num_hidden_layers=2,
vision_config={"image_size": 56})` or `load_model("tiny", overrides={...})` tune it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from contracts.errors import UserError
from phi3v.configuration import CLIP_VIT_L14_336, CLIP_VIT_L14_336_NAME, Phi3VConfig
from phi3v.modeling import Phi3VForCausalLM
from phi3v.tokenizer import BOS, DEFAULT_VOCAB_SIZE, ENDOFTEXT, SPECIAL_TOKENS

HUB_ID = "microsoft/Phi-3-vision-128k-instruct"
DEFAULT_PRESET = "tiny"
PROCESSOR_KEYS = ("num_crops",)  # override keys that belong to the processor, not the model config

# Long-RoPE factors of the published config.json (rope_scaling, type "su"), one per rotary frequency (48).
PHI3V_SHORT_FACTOR = [1.05] * 3 + [1.1] * 3 + [1.25, 1.25, 1.4, 1.45, 1.55, 1.85, 1.9] + [2.0] * 19 + [
    2.1, 2.1, 2.2, 2.35, 2.35, 2.35, 2.35, 2.4, 2.4, 2.65, 2.7, 2.9, 2.95, 3.05, 3.05, 3.05,
]  # fmt: skip
PHI3V_LONG_FACTOR = [
    1.03, 1.05, 1.05, 1.08, 1.23, 1.23, 1.3, 1.45, 1.6, 1.65, 1.9, 2.86, 3.69, 5.42, 5.49, 5.49,
    9.09, 11.58, 15.66, 15.77, 15.79, 18.36, 21.99, 23.08, 30.01, 32.35, 32.59, 35.56,
    39.95, 53.84, 56.2, 57.95, 59.29, 59.77, 59.92, 61.19, 61.96, 62.5, 63.37, 63.48,
    63.48, 63.66, 63.85, 64.08, 64.76, 64.8, 64.81, 64.81,
]  # fmt: skip


def phi3v_config_fields() -> dict[str, Any]:
    """The published model's config.json fields (microsoft/Phi-3-vision-128k-instruct)."""
    return {
        "vocab_size": 32064,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096,
        "sliding_window": 131072,
        "rope_scaling": {"type": "su", "short_factor": PHI3V_SHORT_FACTOR, "long_factor": PHI3V_LONG_FACTOR},
        "rope_theta": 10000.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
        "vision_config": dict(CLIP_VIT_L14_336),
        "img_processor": {
            "image_dim_out": 1024,
            "model_name": CLIP_VIT_L14_336_NAME,
            "name": "clip_vision_model",
            "num_img_tokens": 144,
        },
    }


def tiny_config_fields() -> dict[str, Any]:
    """The tiny default: the same architecture at ~3M parameters (long-RoPE kept so its code path runs)."""
    head_dim = 32
    half = head_dim // 2
    return {
        # target size of the trained tokenizer; the model gets the tokenizer's exact size
        "vocab_size": DEFAULT_VOCAB_SIZE,
        "hidden_size": 192,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 192 // head_dim,
        "num_key_value_heads": 192 // head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "max_position_embeddings": 4096,
        "original_max_position_embeddings": 512,
        "rope_scaling": {
            "type": "longrope",
            "short_factor": [1.0] * half,
            "long_factor": [1.0 + 7.0 * i / (half - 1) for i in range(half)],
        },
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        # the tiny tokenizer's fixed ids: <s>, and <|endoftext|> as eos and pad (as Phi-3's tokenizer)
        "bos_token_id": SPECIAL_TOKENS.index(BOS),
        "eos_token_id": SPECIAL_TOKENS.index(ENDOFTEXT),
        "pad_token_id": SPECIAL_TOKENS.index(ENDOFTEXT),
        "vision_config": {
            "hidden_size": 96,
            "intermediate_size": 384,
            "num_hidden_layers": 3,
            "num_attention_heads": 4,
            "image_size": 112,
            "patch_size": 14,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        },
        "img_processor": {"name": "clip_vision_model", "model_name": "tiny-clip-112"},
    }


@dataclass(frozen=True)
class Preset:
    """A named model: its config fields, its processor's num_crops, where its weights come from, and how a
    random one starts."""

    name: str
    description: str
    config_fields: Callable[[], dict[str, Any]]
    num_crops: int
    weights: str  # "random" or a hub id / path to load
    # the tokenizer is trained on the training data and the vocabulary sized to it (no fixed vocabulary)
    tokenizer_from_corpus: bool = False
    # the CLIP attention starts as trained layers look (``loading.mimetic_attention_init``): an image
    # encoder that learns from a few thousand images needs the head start
    mimetic_init: bool = False


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        "tiny",
        "~2M-parameter Phi-3-Vision, random init, offline tokenizer",
        tiny_config_fields,
        1,
        "random",
        tokenizer_from_corpus=True,
        mimetic_init=True,
    ),
    "phi3v": Preset("phi3v", f"{HUB_ID}, the real weights", phi3v_config_fields, 16, HUB_ID),
    "phi3v-random": Preset(
        "phi3v-random",
        "full-size architecture, random weights, no download",
        phi3v_config_fields,
        16,
        "random",
    ),
}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if key in ("vision_config", "img_processor", "rope_scaling") and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def _preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def build_config(name: str, **overrides: Any) -> Phi3VConfig:
    """Preset `name`'s config with `overrides` (Phi3VConfig fields; `vision_config` and other dicts merge)."""
    fields = _merge(_preset(name).config_fields(), overrides)
    if fields.get("rope_scaling") and "num_attention_heads" in overrides:
        _fit_rope_factors(fields)
    return Phi3VConfig(**fields)


def _fit_rope_factors(fields: dict[str, Any]) -> None:
    """Resample long-RoPE factor lists when an override changes the head size (one per frequency)."""
    half = fields["hidden_size"] // fields["num_attention_heads"] // 2
    for key in ("short_factor", "long_factor"):
        factors = fields["rope_scaling"][key]
        if len(factors) != half:
            fields["rope_scaling"][key] = [
                factors[round(i * (len(factors) - 1) / max(half - 1, 1))] for i in range(half)
            ]


def count_parameters(config: Phi3VConfig) -> int:
    """Parameters of the model `config` describes, counted on the meta device (nothing allocated)."""
    with torch.device("meta"):
        model = Phi3VForCausalLM(config)
    return sum(p.numel() for p in model.parameters())
