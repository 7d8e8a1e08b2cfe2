"""LoRA wiring on the tiny model: targets, freezing, training only adapters, merged export."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from contracts import run_layout as names
from contracts.errors import UserError
from finetune import lora
from finetune.config import TrainConfig, resolve
from finetune.loop import train
from finetune.model import model_overrides, tokenizer_corpus
from phi3v.loading import load_model


@pytest.fixture(scope="module")
def tiny():
    model, _ = load_model("tiny", overrides={"num_crops": 1})
    return model


def test_default_targets_are_the_decoder_linears(tiny):
    """qkv/o/gate_up/down of every decoder layer; with the vision tower unfrozen, its read layers too."""
    targets = TrainConfig().lora_target_list()
    frozen = lora.lora_target_modules(tiny, targets, freeze_vision=True)
    layers = tiny.config.num_hidden_layers
    assert len(frozen) == 4 * layers and all(n.startswith("model.layers.") for n in frozen)
    unfrozen = lora.lora_target_modules(tiny, targets, freeze_vision=False)
    vision = [n for n in unfrozen if n.startswith(lora.VISION_PREFIX)]
    assert vision and any("img_projection" in n for n in vision)
    assert not any("post_layernorm" in n for n in vision)


def test_unknown_target_is_a_user_error(tiny):
    with pytest.raises(UserError, match="--lora-targets q_proj matches no layer"):
        lora.lora_target_modules(tiny, ["q_proj"], freeze_vision=True)


def test_full_fine_tuning_can_freeze_the_clip_tower():
    model, _ = load_model("tiny", overrides={"num_crops": 1})
    lora.freeze_for_full(model, freeze_vision=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith(lora.VISION_TOWER_PREFIX) for n in trainable)
    assert any("img_projection" in n for n in trainable) and any("layers.0" in n for n in trainable)


@pytest.mark.slow
def test_lora_trains_adapters_only_and_exports_merged_weights(fast_config):
    """After LoRA, RUN/model holds merged weights (plain load_model) giving the adapted model's logits."""
    cfg = fast_config(method="lora", lora_rank=4, lr=1e-2, max_steps=3, eval_every=3)
    result = train(cfg)
    run = result.run_dir
    assert (run / names.MODEL_DIR / names.ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert (run / names.BEST_DIR / "model.safetensors").is_file()
    merged, processor = load_model(str(run / names.MODEL_DIR))
    from peft import PeftModel

    fresh, _ = load_model(str(run / names.MODEL_DIR))  # same vocabulary as the run
    adapters = PeftModel.from_pretrained(
        _unmerged_base(cfg, fresh), str(run / names.MODEL_DIR / names.ADAPTER_DIR)
    )
    batch = processor.encode_example(_image(), "Product: X, Category: Y, Full Price: 1.0")
    inputs = {
        "input_ids": batch["input_ids"][None],
        "pixel_values": batch["pixel_values"][None],
        "image_sizes": batch["image_sizes"][None],
    }
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, adapters(**inputs).logits, rtol=1e-4, atol=1e-4)


def _image():
    from PIL import Image

    return Image.new("RGB", (40, 56), (90, 30, 200))


def _unmerged_base(cfg, like):
    """The run's starting weights: the tiny preset built with the run's seed and the run's tokenizer size."""
    from finetune import data

    frames = data.read_training_splits(cfg.data)
    corpus = tokenizer_corpus(frames["train"])
    base, _ = load_model("tiny", seed=cfg.seed, corpus=corpus, overrides=model_overrides(cfg))
    assert base.config.vocab_size == like.config.vocab_size
    return base


def test_lora_rank_and_alpha_reach_peft(tiny):
    cfg = resolve(dataclasses.replace(TrainConfig(data="d", out="o", model="phi3v"), lora_rank=8))
    model = lora.apply_lora(load_model("tiny", overrides={"num_crops": 1})[0], cfg)
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha) == (8, 16.0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_adapters_read_bf16_activations_under_autocast_with_the_same_gradients():
    """Under bf16 autocast peft casts each adapter's input to fp32 and autocast casts it back for the matmul;
    without that round trip (the product's path under autocast) the loss and the adapters' gradients are
    the same within bf16 precision, and the adapter weights stay fp32 for the optimizer."""
    from PIL import Image

    from contracts.task import build_answer
    from finetune.collate import collate_examples

    cfg = resolve(TrainConfig(data="d", out="o", method="lora", lora_rank=8, lora_dropout=0.0))
    base, processor = load_model("tiny", seed=0, dtype=torch.bfloat16, overrides={"num_crops": 1})
    image = Image.new("RGB", (120, 90), (200, 40, 90))
    examples = [
        processor.encode_example(image, build_answer(f"Check Scarf {i}", "SCARVES", 390.0)) for i in (1, 2)
    ]
    batch = collate_examples(examples, processor.pad_token_id)
    results = []
    for under_autocast in (False, True):
        torch.manual_seed(0)  # the same adapter initialisation in both
        model = lora.apply_lora(copy.deepcopy(base), cfg, under_autocast=under_autocast)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch, use_cache=False).loss
        loss.backward()
        grads = {n: p.grad.float() for n, p in model.named_parameters() if p.requires_grad}
        assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
        results.append((loss.detach().float(), grads))
    (loss_a, grads_a), (loss_b, grads_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=2e-2, atol=1e-3)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=5e-2, atol=5e-3, msg=name)
