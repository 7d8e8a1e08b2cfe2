"""Write phi3v_checkpoint_params.json: parameter name -> shape of microsoft/Phi-3-vision-128k-instruct.

Built from public facts only, not from our model code (so the naming test is not circular):

- config.json: vocab 32064, hidden 3072, 32 layers, 32 heads and 32 KV heads (fused qkv_proj 3072 -> 3*3072),
  intermediate 8192 (fused gate_up_proj 3072 -> 2*8192), untied lm_head, RMSNorm weights only.
- the image embedding (image_embedding_phi3_v.py): CLIPVisionModel(ViT-L/14-336) under `img_processor`,
  parameter names as transformers 4.38 wrote them (`vision_model.` level, `pre_layrnorm`, `post_layernorm`,
  q/k/v/out_proj and fc1/fc2 with biases, conv patch embedding without bias, 577 positions), `glb_GN` (1, 1,
  4096), `sub_GN` (1, 1, 1, 4096), `img_projection` = Sequential(Linear(4096, 3072), GELU, Linear(3072,
  3072)).
- the embedding table shared with the image embedding (`vision_embed_tokens.wte`) is stored once, as
  `model.embed_tokens.weight`: the shards hold 8.29 GB in bf16, i.e. 4,146,621,440 parameters, which is this
  list.

Run: python tests/phi3v/data/make_phi3v_checkpoint_params.py
"""

import json
from pathlib import Path

VOCAB, HIDDEN, LAYERS, INTER = 32064, 3072, 32, 8192
CLIP, CLIP_LAYERS, CLIP_INTER, PATCH, IMAGE = 1024, 24, 4096, 14, 336


def params() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"model.embed_tokens.weight": [VOCAB, HIDDEN]}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        out[p + "self_attn.qkv_proj.weight"] = [3 * HIDDEN, HIDDEN]
        out[p + "self_attn.o_proj.weight"] = [HIDDEN, HIDDEN]
        out[p + "mlp.gate_up_proj.weight"] = [2 * INTER, HIDDEN]
        out[p + "mlp.down_proj.weight"] = [HIDDEN, INTER]
        out[p + "input_layernorm.weight"] = [HIDDEN]
        out[p + "post_attention_layernorm.weight"] = [HIDDEN]
    out["model.norm.weight"] = [HIDDEN]
    out["lm_head.weight"] = [VOCAB, HIDDEN]
    v = "model.vision_embed_tokens."
    out[v + "glb_GN"] = [1, 1, 4 * CLIP]
    out[v + "sub_GN"] = [1, 1, 1, 4 * CLIP]
    out[v + "img_projection.0.weight"] = [HIDDEN, 4 * CLIP]
    out[v + "img_projection.0.bias"] = [HIDDEN]
    out[v + "img_projection.2.weight"] = [HIDDEN, HIDDEN]
    out[v + "img_projection.2.bias"] = [HIDDEN]
    c = v + "img_processor.vision_model."
    out[c + "embeddings.class_embedding"] = [CLIP]
    out[c + "embeddings.patch_embedding.weight"] = [CLIP, 3, PATCH, PATCH]
    out[c + "embeddings.position_embedding.weight"] = [(IMAGE // PATCH) ** 2 + 1, CLIP]
    out[c + "pre_layrnorm.weight"] = [CLIP]
    out[c + "pre_layrnorm.bias"] = [CLIP]
    for i in range(CLIP_LAYERS):
        p = f"{c}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[p + f"self_attn.{proj}.weight"] = [CLIP, CLIP]
            out[p + f"self_attn.{proj}.bias"] = [CLIP]
        for norm in ("layer_norm1", "layer_norm2"):
            out[p + f"{norm}.weight"] = [CLIP]
            out[p + f"{norm}.bias"] = [CLIP]
        out[p + "mlp.fc1.weight"] = [CLIP_INTER, CLIP]
        out[p + "mlp.fc1.bias"] = [CLIP_INTER]
        out[p + "mlp.fc2.weight"] = [CLIP, CLIP_INTER]
        out[p + "mlp.fc2.bias"] = [CLIP]
    out[c + "post_layernorm.weight"] = [CLIP]
    out[c + "post_layernorm.bias"] = [CLIP]
    return dict(sorted(out.items()))


if __name__ == "__main__":
    target = Path(__file__).with_name("phi3v_checkpoint_params.json")
    rows = [f"  {json.dumps(name)}: {json.dumps(shape)}" for name, shape in params().items()]
    target.write_text("{\n" + ",\n".join(rows) + "\n}\n")
