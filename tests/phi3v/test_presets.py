"""Presets: the full-size model matches the published checkpoint; the tiny default is small and
deterministic."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from contracts.errors import UserError
from phi3v import Phi3VConfig, Phi3VForCausalLM
from phi3v.loading import load_model
from phi3v.presets import DEFAULT_PRESET, PRESETS, build_config, count_parameters

CHECKPOINT_PARAMS = Path(__file__).parent / "data" / "phi3v_checkpoint_params.json"
PHI3V_PARAMS = 4_146_621_440  # sum over the published checkpoint's tensors (8.29 GB in bf16)


def test_full_size_names_and_shapes_equal_published_checkpoint():
    """Every tensor name and shape of the full-size preset is the checkpoint's, and nothing else is saved."""
    expected = {k: tuple(v) for k, v in json.loads(CHECKPOINT_PARAMS.read_text()).items()}
    with torch.device("meta"):
        model = Phi3VForCausalLM(build_config("phi3v-random"))
    params = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert params == expected
    assert set(model.state_dict()) == set(expected)  # no persistent buffers beyond the checkpoint's tensors


def test_parameter_count_is_4_15_billion():
    """4,146,621,440 parameters (the "4.2B" of the model card), counted without allocating."""
    stored = sum(math.prod(s) for s in json.loads(CHECKPOINT_PARAMS.read_text()).values())
    assert stored == PHI3V_PARAMS
    assert count_parameters(build_config("phi3v-random")) == PHI3V_PARAMS
    assert count_parameters(build_config("phi3v")) == PHI3V_PARAMS


def test_every_preset_config_builds():
    """Each preset yields a valid config; the tiny one is a few million parameters."""
    assert DEFAULT_PRESET == "tiny" and set(PRESETS) == {"tiny", "phi3v", "phi3v-random"}
    for name in PRESETS:
        assert isinstance(build_config(name), Phi3VConfig)
    assert 1_000_000 < count_parameters(build_config("tiny")) < 10_000_000


def test_full_size_config_has_published_fields():
    """Long-RoPE with 48 short/long factors, 4096 original and 131072 maximum context, ViT-L/14-336 tower."""
    config = build_config("phi3v")
    rope = config.rope_parameters
    assert rope["rope_type"] == "longrope"
    assert len(rope["short_factor"]) == len(rope["long_factor"]) == 48
    assert (config.original_max_position_embeddings, config.max_position_embeddings) == (4096, 131072)
    assert (config.vision_config.hidden_size, config.vision_config.num_hidden_layers) == (1024, 24)
    assert (config.crop_size, config.tokens_per_crop, config.vision_layer_idx) == (336, 144, -2)


def test_overrides_change_sizes():
    """Sizes are config fields: plain fields replace, vision_config is merged."""
    config = build_config(
        "tiny", num_hidden_layers=2, vision_config={"num_hidden_layers": 2, "image_size": 56}
    )
    assert config.num_hidden_layers == 2
    assert config.vision_config.num_hidden_layers == 2 and config.vision_config.hidden_size == 96
    assert config.crop_size == 56 and config.tokens_per_crop == 4


def test_tiny_is_deterministic_and_leaves_global_rng_alone():
    """Same seed, same weights and tokenizer; another seed, other weights; torch's global RNG is untouched."""
    state = torch.random.get_rng_state()
    a, pa = load_model("tiny", seed=0)
    b, pb = load_model("tiny", seed=0)
    c, _ = load_model("tiny", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    assert pa.tokenizer.backend_tokenizer.to_str() == pb.tokenizer.backend_tokenizer.to_str()


def test_tiny_vocabulary_follows_the_corpus():
    """The model's vocabulary is the trained tokenizer's size, rounded up to a multiple of 64."""
    corpus = [f"Product: Item {i}, Category: BAGS, Full Price: {i * 10}.0" for i in range(200)]
    model, processor = load_model("tiny", corpus=corpus, overrides={"num_crops": 2})
    assert model.config.vocab_size % 64 == 0
    assert len(processor.tokenizer) <= model.config.vocab_size < len(processor.tokenizer) + 64
    assert processor.image_processor.num_crops == 2
    assert processor.image_processor.crop_size == model.config.crop_size


def test_unknown_spec_names_the_presets():
    """A spec that is neither preset, dir nor hub id is a user error listing the presets."""
    with pytest.raises(UserError, match="tiny, phi3v, phi3v-random"):
        load_model("no-such-model")
    with pytest.raises(UserError, match="tiny"):
        build_config("huge")


@pytest.mark.skipif(importlib.util.find_spec("flash_attn") is not None, reason="flash-attn is installed")
def test_flash_attention_without_package_is_a_user_error():
    """Asking for FlashAttention-2 without flash-attn fails with one clear line."""
    with pytest.raises(UserError, match="flash-attn"):
        load_model("tiny", attn_implementation="flash_attention_2")


def test_hub_config_json_loads(tmp_path):
    """The hub's config.json (remote-code fields, "su" rope, FA2 pin) loads natively, attention left to us."""
    fields = {
        k: v
        for k, v in build_config("phi3v").to_dict().items()
        if k not in ("vision_config", "rope_parameters")
    }
    rope = build_config("phi3v").rope_parameters
    hub = {
        **fields,
        "architectures": ["Phi3VForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_phi3_v.Phi3VConfig",
            "AutoModelForCausalLM": "modeling_phi3_v.Phi3VForCausalLM",
        },
        "model_type": "phi3_v",
        "rope_scaling": {
            "type": "su",
            "short_factor": rope["short_factor"],
            "long_factor": rope["long_factor"],
        },
        "rope_theta": 10000.0,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.38.1",
        "_attn_implementation": "flash_attention_2",
    }
    (tmp_path / "config.json").write_text(json.dumps(hub))
    config = Phi3VConfig.from_pretrained(tmp_path)
    assert config.rope_parameters["rope_type"] == "longrope"
    assert config.vision_config.hidden_size == 1024 and config.vision_config.image_size == 336
    assert config._attn_implementation != "flash_attention_2"
    assert count_parameters(config) == PHI3V_PARAMS
    config.save_pretrained(tmp_path / "again")  # a fine-tune of the real model saves (validation passes)


def test_saved_config_keeps_the_hub_rope_keys(tmp_path):
    """config.json carries the hub's rope_scaling ("su") and rope_theta, and reads back to the same RoPE."""
    config = build_config("phi3v")
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "phi3_v"
    assert saved["rope_scaling"]["type"] == "su" and saved["rope_theta"] == 10000.0
    assert saved["rope_scaling"]["long_factor"] == config.rope_parameters["long_factor"]
    assert Phi3VConfig.from_pretrained(tmp_path).rope_parameters == config.rope_parameters


def test_tiny_vision_attention_starts_mimetic(tmp_path):
    """The tiny preset's CLIP attention starts near W_q^T W_k = 0.7 I and W_v^T W_o^T = -0.4 I (plus a random
    part of std a / sqrt(width)); a model saved and loaded again keeps its own (trained) weights."""
    from phi3v.loading import MIMETIC_QK, MIMETIC_VO

    model = load_model("tiny", dtype=torch.float32, seed=0)[0].requires_grad_(False)
    layers = model.model.vision_embed_tokens.img_processor.vision_model.encoder.layers
    for layer in layers:
        attn = layer.self_attn
        width = attn.q_proj.weight.shape[1]
        eye = torch.eye(width, dtype=torch.bool)
        for product, (a, b), sign in (
            (attn.q_proj.weight.T @ attn.k_proj.weight, MIMETIC_QK, 1.0),
            (attn.v_proj.weight.T @ attn.out_proj.weight.T, MIMETIC_VO, -1.0),
        ):
            assert float(product[eye].mean()) == pytest.approx(sign * b, abs=0.05)
            assert float(product[~eye].std()) == pytest.approx(a / width**0.5, rel=0.15)

    def first_query(m: Phi3VForCausalLM) -> torch.Tensor:
        return m.model.vision_embed_tokens.img_processor.vision_model.encoder.layers[
            0
        ].self_attn.q_proj.weight

    assert not torch.equal(
        first_query(model), first_query(load_model("tiny", dtype=torch.float32, seed=1)[0])
    )
    with torch.no_grad():
        first_query(model).mul_(0.5)  # as training would change it
    model.save_pretrained(tmp_path)
    loaded = Phi3VForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    assert torch.equal(first_query(loaded), first_query(model))
