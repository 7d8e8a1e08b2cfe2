"""The native Phi-3-Vision model at tiny size: forward, loss, backward, generation, save/load."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from contracts.task import build_answer
from finetune.collate import collate_examples
from finetune.loss import answer_loss_sum
from finetune.model import enable_checkpointing
from phi3v.loading import load_model

ANSWER = build_answer("EKD Wool Cape", "PONCHOS & CAPES", 2490.0)


@pytest.fixture(scope="module")
def tiny():
    model, processor = load_model("tiny", seed=0, overrides={"num_crops": 4})
    return model, processor


def _image(size=(120, 80), color=(200, 30, 30)):
    image = Image.new("RGB", size, color)
    image.paste((20, 90, 200), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    return image


def _prompt_batch(examples, pad_id):
    """Left-pad prompt-only examples for generation (the last prompt token in the last column)."""
    longest = max(e["input_ids"].shape[0] for e in examples)
    ids = torch.full((len(examples), longest), pad_id)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(examples):
        n = e["input_ids"].shape[0]
        ids[i, longest - n :] = e["input_ids"]
        mask[i, longest - n :] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "image_sizes": torch.stack([e["image_sizes"] for e in examples]),
    }


def _train_batch(processor):
    """Two examples with different image grids and lengths, through the training collator."""
    examples = [
        processor.encode_example(_image(), ANSWER),
        processor.encode_example(_image((60, 200)), ANSWER),
    ]
    return collate_examples(examples, processor.pad_token_id)


def test_forward_loss_backward_reach_vision_and_text(tiny):
    """One step: finite loss, gradients in CLIP, separators, projector and decoder."""
    model, processor = tiny
    batch = _train_batch(processor)
    model.train()
    try:
        out = model(**batch)
        out.loss.backward()
    finally:
        model.eval()
    assert torch.isfinite(out.loss)
    assert out.logits.shape == (*batch["input_ids"].shape, model.config.vocab_size)
    emb = model.model.vision_embed_tokens
    tower = emb.img_processor.vision_model
    for param in (
        tower.embeddings.patch_embedding.weight,
        tower.encoder.layers[0].self_attn.q_proj.weight,
        emb.glb_GN,
        emb.sub_GN,
        emb.img_projection[0].weight,
        model.model.embed_tokens.weight,
        model.model.layers[0].self_attn.qkv_proj.weight,
        model.lm_head.weight,
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0
    # The last CLIP layer and post_layernorm are never read (features come from the second-to-last layer).
    assert not tower.post_layernorm.weight.requires_grad
    assert not any(p.requires_grad for p in tower.encoder.layers[-1].parameters())
    model.zero_grad(set_to_none=True)


def _reference_image_features(emb, pixel_values, image_sizes):
    """Upstream's hd_feature_transform, re-derived per image with plain loops (slow, obviously ordered)."""
    vm = emb.img_processor.vision_model
    c, m = emb.crop_size, emb.merged
    hidden = vm.pre_layrnorm(vm.embeddings(pixel_values.flatten(0, 1)))
    states = [hidden]
    for layer in vm.encoder.layers:
        hidden = layer(hidden, None)
        states.append(hidden)
    feats = states[-2][:, 1:].reshape(*pixel_values.shape[:2], 2 * m, 2 * m, -1)  # (n, crops, g, g, C)
    width = 4 * feats.shape[-1]
    out = []

    def merged_tokens(crop):  # (g, g, C) -> (m, m, 4C), channels ordered (row-in-pair, col-in-pair, C)
        return torch.stack(
            [
                torch.stack([torch.cat([crop[2 * r, 2 * q], crop[2 * r, 2 * q + 1], crop[2 * r + 1, 2 * q],
                                        crop[2 * r + 1, 2 * q + 1]]) for q in range(m)])
                for r in range(m)
            ]
        )  # fmt: skip

    for i, (h, w) in enumerate(image_sizes.tolist()):
        hc, wc = h // c, w // c
        grid = [[merged_tokens(feats[i, 1 + y * wc + x]) for x in range(wc)] for y in range(hc)]
        for y in range(hc):
            for r in range(m):
                for x in range(wc):
                    out.extend(grid[y][x][r])
                out.append(emb.sub_GN.reshape(width))
        out.append(emb.glb_GN.reshape(width))
        glb = merged_tokens(feats[i, 0])
        for r in range(m):
            out.extend(glb[r])
            out.append(emb.sub_GN.reshape(width))
    return emb.img_projection(torch.stack(out))


def test_image_features_follow_upstream_layout(tiny):
    """Vectorised features equal a per-token re-derivation of upstream's 2x2 merge, separators and order."""
    model, processor = tiny
    emb = model.model.vision_embed_tokens
    with torch.no_grad():
        emb.sub_GN.normal_()  # distinct separators so their placement is checked
        emb.glb_GN.normal_()
        images = [_image((300, 80)), _image((50, 160)), _image((100, 100))]
        vision = processor.image_processor(images)
        got = emb(vision["pixel_values"], vision["image_sizes"])
        want = _reference_image_features(emb, vision["pixel_values"], vision["image_sizes"])
        emb.sub_GN.zero_()
        emb.glb_GN.zero_()
    assert got.shape[0] == sum(vision["num_img_tokens"])
    torch.testing.assert_close(got, want)


def _generate(model, batch, use_cache=True, max_new_tokens=8):
    keys = ("input_ids", "attention_mask", "pixel_values", "image_sizes")
    with torch.no_grad():
        out = model.generate(
            **{k: batch[k] for k in keys}, max_new_tokens=max_new_tokens, do_sample=False, use_cache=use_cache
        )
    return out[:, batch["input_ids"].shape[1] :]


@pytest.fixture(scope="module")
def trained_tiny(tiny):
    """The tiny model after a few steps on one example, so greedy outputs are not all the same token."""
    model, processor = load_model("tiny", seed=0, overrides={"num_crops": 4})
    batch = _train_batch(processor)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        model(**batch).loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()
    return model, processor


@pytest.mark.slow  # trains the tiny model for a few seconds first
def test_generate_with_cache_equals_without(trained_tiny):
    """Greedy decoding with the KV cache (images at prefill only) equals decoding without it."""
    model, processor = trained_tiny
    batch = _prompt_batch([processor.encode_example(_image(), None)], processor.pad_token_id)
    with_cache = _generate(model, batch, use_cache=True)
    without = _generate(model, batch, use_cache=False)
    assert torch.equal(with_cache, without)
    assert len(set(with_cache[0].tolist())) > 1


@pytest.mark.slow  # trains the tiny model for a few seconds first
def test_batched_left_padded_generation_equals_one_by_one(trained_tiny):
    """Left padding with an attention mask changes nothing: batched greedy outputs equal unbatched ones."""
    model, processor = trained_tiny
    images = [_image(), _image((60, 200), (10, 150, 40)), _image((400, 90), (90, 90, 90))]
    examples = [processor.encode_example(im, None) for im in images]
    assert len({e["input_ids"].shape[0] for e in examples}) > 1  # the batch really is padded
    batched = _generate(model, _prompt_batch(examples, processor.pad_token_id))
    for i, example in enumerate(examples):
        single = _generate(model, _prompt_batch([example], processor.pad_token_id))
        n = min(single.shape[1], batched.shape[1])
        assert torch.equal(batched[i, :n], single[0, :n]), f"example {i}"


@pytest.mark.slow  # trains the tiny model for a few seconds first
def test_stop_at_end_token_and_decode_answer(trained_tiny):
    """Generation stops at `<|end|>` (or eos); decode_answer returns plain text without specials."""
    model, processor = trained_tiny
    assert model.generation_config.eos_token_id == processor.stop_token_ids
    batch = _prompt_batch([processor.encode_example(_image(), None)], processor.pad_token_id)
    ids = _generate(model, batch, max_new_tokens=40)[0]
    text = processor.decode_answer(ids)
    assert "<|" not in text
    stops = [i for i, t in enumerate(ids.tolist()) if t in processor.stop_token_ids]
    if stops:  # nothing but padding after the first stop token
        assert all(t == processor.pad_token_id for t in ids[stops[0] + 1 :].tolist())


def test_gradient_checkpointing_matches_plain_backward(tiny):
    """Non-reentrant checkpointing gives the same loss and gradients as a plain backward pass."""
    model, processor = load_model("tiny", seed=0, overrides={"num_crops": 4})
    batch = _train_batch(processor)
    model.train()
    model(**batch).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    enable_checkpointing(model)
    assert model.model.vision_embed_tokens.img_processor.vision_model.encoder.layers[0].gradient_checkpointing
    assert model.model.layers[0].gradient_checkpointing
    model(**batch).loss.backward()
    for name, grad in plain.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, msg=name)


def test_eager_and_bf16_agree_with_sdpa(tiny):
    """Eager attention gives SDPA's logits; bfloat16 runs and stays close."""
    model, processor = tiny
    batch = _train_batch(processor)
    eager, _ = load_model("tiny", seed=0, attn_implementation="eager")
    bf16, _ = load_model("tiny", seed=0, dtype=torch.bfloat16)
    with torch.no_grad():
        ref = model(**batch).logits
        torch.testing.assert_close(eager(**batch).logits, ref, rtol=1e-4, atol=1e-4)
        low = bf16(**batch).logits
    assert low.dtype == torch.bfloat16
    assert (low.float() - ref).abs().max() < 0.1


def _logits(model, processor):
    batch = _train_batch(processor)
    with torch.no_grad():
        return model(**batch).logits


def test_save_and_load_round_trip_gives_identical_logits(tiny, tmp_path):
    """save_pretrained (sharded) + processor files reload through load_model(dir) to the same logits."""
    model, processor = tiny
    model.save_pretrained(tmp_path, max_shard_size="1MB")
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors.index.json").exists()
    reloaded, reprocessor = load_model(str(tmp_path))
    assert reprocessor.encode_example(_image(), ANSWER)["input_ids"].tolist() == (
        processor.encode_example(_image(), ANSWER)["input_ids"].tolist()
    )
    assert torch.equal(_logits(reloaded, reprocessor), _logits(model, processor))


def test_loads_a_dir_laid_out_like_the_hub_repository(tiny, tmp_path):
    """A hub-style dir (remote-code config.json, sharded safetensors with index, tokenizer, preprocessor)
    loads."""
    model, processor = tiny
    config = model.config
    rope = config.rope_parameters
    hub_config = {
        "_name_or_path": "Phi-3-vision-128k-instruct",
        "architectures": ["Phi3VForCausalLM"],
        "attention_dropout": 0.0,
        "auto_map": {
            "AutoConfig": "configuration_phi3_v.Phi3VConfig",
            "AutoModelForCausalLM": "modeling_phi3_v.Phi3VForCausalLM",
        },
        "bos_token_id": config.bos_token_id,
        "embd_layer": {
            "embedding_cls": "image",
            "hd_transform_order": "sub_glb",
            "projection_cls": "mlp",
            "use_hd_transform": True,
            "with_learnable_separator": True,
        },
        "embd_pdrop": 0.0,
        "eos_token_id": config.eos_token_id,
        "hidden_act": "silu",
        "hidden_size": config.hidden_size,
        "img_processor": {
            "image_dim_out": config.vision_config.hidden_size,
            "model_name": "openai/clip-vit-large-patch14-336",
            "name": "clip_vision_model",
            "num_img_tokens": config.tokens_per_crop,
        },
        "initializer_range": 0.02,
        "intermediate_size": config.intermediate_size,
        "max_position_embeddings": config.max_position_embeddings,
        "model_type": "phi3_v",
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "num_key_value_heads": config.num_key_value_heads,
        "original_max_position_embeddings": config.original_max_position_embeddings,
        "rms_norm_eps": 1e-05,
        "rope_scaling": {
            "long_factor": rope["long_factor"],
            "short_factor": rope["short_factor"],
            "type": "su",
        },
        "rope_theta": 10000.0,
        "sliding_window": config.max_position_embeddings,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.38.1",
        "use_cache": True,
        "vocab_size": config.vocab_size,
        "_attn_implementation": "flash_attention_2",
        # not in the hub file: the tiny tower's size (the hub's is implied: ViT-L/14-336)
        "vision_config": config.vision_config.to_dict(),
    }
    (tmp_path / "config.json").write_text(json.dumps(hub_config, indent=2))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    names = sorted(state)
    shards = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, shard in enumerate(shards, start=1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k] for k in shard}, tmp_path / file, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
    total = sum(v.numel() * v.element_size() for v in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    processor.tokenizer.save_pretrained(tmp_path)
    preprocessor = {
        "auto_map": {
            "AutoImageProcessor": "image_processing_phi3_v.Phi3VImageProcessor",
            "AutoProcessor": "processing_phi3_v.Phi3VProcessor",
        },
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "Phi3VImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "num_crops": processor.image_processor.num_crops,
        "num_img_tokens": config.tokens_per_crop,
        "processor_class": "Phi3VProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(preprocessor))

    loaded, loaded_processor = load_model(str(tmp_path), dtype=torch.float32)
    assert loaded.config._attn_implementation == "sdpa"
    assert loaded.config.rope_parameters["rope_type"] == "longrope"
    assert loaded_processor.image_processor.crop_size == config.crop_size  # from the model, not the file
    assert torch.equal(_logits(loaded, loaded_processor), _logits(model, processor))
    native, _ = load_model(str(tmp_path))  # dtype "auto": the config's bfloat16
    assert native.dtype == torch.bfloat16
    loaded.save_pretrained(tmp_path / "resaved")  # written back under the same names
    resaved = json.loads((tmp_path / "resaved" / "config.json").read_text())
    assert resaved["rope_scaling"]["type"] == "su"
    with safe_open(tmp_path / "resaved" / "model.safetensors", "pt") as f:
        assert set(f.keys()) == set(state)


def test_logits_on_labels_only_gives_the_same_loss_and_gradients(tiny):
    """The head on labelled positions only: same loss and gradients, logits only where labels exist."""
    model, processor = tiny
    batch = _train_batch(processor)
    full = model(**batch)
    full.loss.backward()
    want = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    sparse = model(**batch, logits_on_labels_only=True)
    sparse.loss.backward()
    torch.testing.assert_close(sparse.loss, full.loss)
    n_labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert sparse.logits.shape == (n_labelled, model.config.vocab_size)
    for name, grad in want.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, msg=name)
    model.zero_grad(set_to_none=True)


def test_labelled_rows_come_in_the_order_the_trainer_reads_its_targets(tiny):
    """The trainer sums cross-entropy of the labelled rows against ``labels[:, 1:]`` masked row-major."""
    model, processor = tiny
    batch = _train_batch(processor)
    with torch.no_grad():
        logits = model(**batch).logits
        rows = model(**batch, logits_on_labels_only=True).logits
    shifted = batch["labels"][:, 1:]
    keep = shifted != -100
    assert keep.sum(dim=1).min() > 0 and len(shifted) > 1  # several sequences, each with labels
    torch.testing.assert_close(rows, logits[:, :-1][keep])
    targets = shifted[keep]
    torch.testing.assert_close(
        F.cross_entropy(rows, targets, reduction="sum"),
        F.cross_entropy(logits[:, :-1][keep], targets, reduction="sum"),
    )


def test_the_trainers_loss_reads_the_labelled_rows_found_on_the_host(tiny):
    """``answer_loss_sum`` passes the labelled positions as flat indices (no mask read back from the
    device): the same logits as the masked path, the same loss and gradients as on the full logits."""
    model, processor = tiny
    batch = _train_batch(processor)
    shifted = batch["labels"][:, 1:]
    keep = shifted != -100
    full = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    want = F.cross_entropy(full[:, :-1][keep], shifted[keep], reduction="sum")
    want.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    got = answer_loss_sum(model, batch, torch.device("cpu"), bf16=False)
    got.backward()
    torch.testing.assert_close(got, want)
    for name, grad in grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, msg=name)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        masked = model(**batch, logits_on_labels_only=True).logits
        rows = torch.cat([keep, keep.new_zeros(len(keep), 1)], dim=1).flatten().nonzero().squeeze(1)
        assert torch.equal(model(**batch, label_rows=rows).logits, masked)


def test_single_sub_crop_equal_to_the_global_view_is_encoded_once():
    """The tiny default's square images: a 1x1 sub-crop grid repeats the global view; its CLIP features are
    computed once, and the features and gradients are those of encoding every crop."""
    model, processor = load_model("tiny", seed=0, overrides={"num_crops": 1})
    emb = model.model.vision_embed_tokens
    images = [_image((112, 112)), _image((300, 80)), _image((224, 224), color=(10, 200, 10))]
    vision = processor.image_processor(images)
    pixels, sizes = vision["pixel_values"].clone(), vision["image_sizes"]
    assert torch.equal(pixels[0, 0], pixels[0, 1])  # the square image's sub-crop is its global view
    pixels[2, 1] += 0.1  # one whose sub-crop differs: encoded separately
    encoded = []
    hook = emb.img_processor.vision_model.embeddings.register_forward_hook(
        lambda _m, args, _out: encoded.append(len(args[0]))
    )
    try:
        got = emb(pixels, sizes)
        got.square().sum().backward()
    finally:
        hook.remove()
    shared = {n: p.grad.clone() for n, p in emb.named_parameters() if p.grad is not None}
    emb.zero_grad(set_to_none=True)
    crops_used = sum(1 + (h // emb.crop_size) * (w // emb.crop_size) for h, w in sizes.tolist())
    repeats = sum(
        (h, w) == (emb.crop_size, emb.crop_size) and torch.equal(pixels[i, 0], pixels[i, 1])
        for i, (h, w) in enumerate(sizes.tolist())
    )
    assert repeats == 2 and encoded == [crops_used - repeats]  # repeated sub-crops were not encoded again
    want = _reference_image_features(emb, pixels, sizes)
    want.square().sum().backward()
    torch.testing.assert_close(got, want)
    for name, grad in shared.items():
        torch.testing.assert_close(grad, dict(emb.named_parameters())[name].grad, msg=name)


@pytest.mark.slow  # trains the tiny model for a few seconds first
def test_cached_generation_past_the_original_context_equals_uncached(trained_tiny):
    """Long-RoPE changes factors past the original context: decoding that crosses it re-runs the sequence
    rather than keep keys rotated with the short factors, so the cache changes no score (on every
    transformers 5.x, whatever it calls the cache argument)."""
    trained, processor = trained_tiny
    batch = _prompt_batch([processor.encode_example(_image(), None)], processor.pad_token_id)
    prompt = batch["input_ids"].shape[1]
    model, _ = load_model("tiny", seed=0, overrides={"original_max_position_embeddings": prompt + 3})
    model.load_state_dict(trained.state_dict())
    model.eval()
    keys = ("input_ids", "attention_mask", "pixel_values", "image_sizes")
    scores = []
    for use_cache in (True, False):
        with torch.no_grad():
            out = model.generate(
                **{k: batch[k] for k in keys},
                max_new_tokens=8,
                min_new_tokens=8,  # past the original context whatever is generated
                do_sample=False,
                use_cache=use_cache,
                output_scores=True,
                return_dict_in_generate=True,
            )
        scores.append(torch.stack(out.scores))
    assert scores[0].shape[0] == 8
    torch.testing.assert_close(scores[0], scores[1])
