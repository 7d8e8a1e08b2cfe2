"""The native Phi-3-Vision model at tiny size: forward, loss, backward, generation, save/load."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from finetune.chat import build_answer
from finetune.presets import load_model


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny", seed=0)


def _example(processor, size=(120, 80), answer=True, color=(200, 30, 30)):
    image = Image.new("RGB", size, color)
    text = build_answer("EKD Wool Cape", "PONCHOS & CAPES", 2490.0) if answer else None
    return processor.encode_example(image, text)


def _batch(examples, pad_id, left=False):
    longest = max(e["input_ids"].shape[0] for e in examples)
    ids = torch.full((len(examples), longest), pad_id)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, e in enumerate(examples):
        n = e["input_ids"].shape[0]
        sl = slice(longest - n, longest) if left else slice(0, n)
        ids[i, sl] = e["input_ids"]
        mask[i, sl] = 1
        if e["labels"] is not None:
            labels[i, sl] = e["labels"]
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "pixel_values": torch.stack([e["pixel_values"] for e in examples]),
        "image_sizes": torch.stack([e["image_sizes"] for e in examples]),
    }


def test_forward_loss_backward_reach_vision_and_text(tiny):
    """One step gives a finite loss and gradients in the CLIP tower, the separators, the projector and decoder."""
    model, processor = tiny
    batch = _batch([_example(processor), _example(processor, (60, 200))], processor.pad_token_id)
    model.train()
    try:
        out = model(**batch)
        out.loss.backward()
    finally:
        model.eval()
    assert torch.isfinite(out.loss)
    assert out.logits.shape[:2] == batch["input_ids"].shape
    emb = model.model.vision_embed_tokens
    for param in (
        emb.img_processor.vision_model.embeddings.patch_embedding.weight,
        emb.img_processor.vision_model.encoder.layers[0].self_attn.q_proj.weight,
        emb.glb_GN,
        emb.sub_GN,
        emb.img_projection[0].weight,
        model.model.layers[0].self_attn.qkv_proj.weight,
        model.lm_head.weight,
    ):
        assert param.grad is not None and param.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
