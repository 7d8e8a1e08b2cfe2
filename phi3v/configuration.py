"""Phi3VConfig: Phi-3 text fields plus the image-embedding fields of the hub's config.json.

The hub's config.json (microsoft/Phi-3-vision-128k-instruct) carries `embd_layer` and `img_processor` dicts
and no vision config: its remote code hard-codes CLIP ViT-L/14-336. Here the CLIP tower is a real sub-config
(`vision_config`, a CLIPVisionConfig) that defaults to ViT-L/14-336, so the hub's file loads as is and a small
tower (the tiny preset) is only a different `vision_config`. `img_processor` is kept in step with it, so a
full-size config we save stays readable by the upstream code and vLLM.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, CLIPVisionConfig, Phi3Config
from transformers.configuration_utils import SubConfigSpec

CLIP_VIT_L14_336_NAME = "openai/clip-vit-large-patch14-336"

# CLIP ViT-L/14 at 336 px, as the upstream image embedding builds it (its CLIP_VIT_LARGE_PATCH14_336_CONFIG).
CLIP_VIT_L14_336: dict[str, Any] = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_channels": 3,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "initializer_factor": 1.0,
}

# `embd_layer` exactly as the hub's config.json has it; the only layout this implementation supports.
HUB_EMBD_LAYER: dict[str, Any] = {
    "embedding_cls": "image",
    "hd_transform_order": "sub_glb",
    "projection_cls": "mlp",
    "use_hd_transform": True,
    "with_learnable_separator": True,
}


class Phi3VConfig(Phi3Config):
    """Configuration of Phi-3-Vision: a Phi-3 decoder plus a CLIP tower with the HD image embedding.

    Text fields are Phi3Config's (long-RoPE via `rope_scaling`/`rope_parameters`, fused projections). Extra
    fields:

    - `vision_config`: CLIPVisionConfig of the tower (default ViT-L/14-336). Its `image_size` is the crop size
      of the HD transform and `image_size // patch_size` must be even (2x2 merge).
    - `embd_layer`: the hub's dict (`hd_transform_order` must be "sub_glb", `projection_cls` "mlp").
    - `img_processor`: the hub's dict (`name`, `model_name`, `image_dim_out` = CLIP width, `num_img_tokens` =
      merged tokens per crop, optional `layer_idx` (default -2) and `type_feature` ("patch")). Filled in from
      `vision_config` when absent and checked against it when present.

    The hub file's `"_attn_implementation": "flash_attention_2"` is dropped on load: attention is chosen at
    load time (SDPA by default, FlashAttention-2 when requested and installed). So is its `auto_map`: a save
    holds no code files (`export_format.finish_export` copies them and writes it back where it can).
    """

    model_type = "phi3_v"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(config_class=CLIPVisionConfig, init_kwargs=CLIP_VIT_L14_336),
    }

    vision_config: dict | CLIPVisionConfig | None = None
    embd_layer: dict | None = None
    img_processor: dict | None = None
    eos_token_id: int | list[int] | None = 2

    def __post_init__(self, **kwargs):
        # The hub config pins FlashAttention-2 for its remote code; whoever loads the model chooses.
        kwargs.pop("_attn_implementation", None)
        # Its auto_map names code files a save would not hold; an export adds it back with the files.
        kwargs.pop("auto_map", None)
        self._normalize_long_rope(kwargs)
        super().__post_init__(**kwargs)
        if self.pad_token_id is not None and self.pad_token_id >= self.vocab_size:
            # Phi3Config's default pad id (32000) only exists in the full vocabulary; the hub file sets none.
            self.pad_token_id = None
        vision = self.vision_config
        grid = vision.image_size // vision.patch_size
        if vision.image_size % vision.patch_size or grid % 2:
            raise ValueError(
                f"vision_config: image_size {vision.image_size} must be a multiple of patch_size "
                f"{vision.patch_size} with an even patch grid (got {vision.image_size / vision.patch_size:g})"
            )
        self.embd_layer = {**HUB_EMBD_LAYER, **(self.embd_layer or {})}
        if self.embd_layer["hd_transform_order"] != "sub_glb" or self.embd_layer["projection_cls"] != "mlp":
            raise ValueError(
                f"embd_layer {self.embd_layer}: only hd_transform_order 'sub_glb' with an mlp projection"
            )
        derived = {
            "name": "clip_vision_model",
            "model_name": CLIP_VIT_L14_336_NAME,
            "image_dim_out": vision.hidden_size,
            "num_img_tokens": (grid // 2) ** 2,
        }
        self.img_processor = {**derived, **(self.img_processor or {})}
        for key in ("image_dim_out", "num_img_tokens"):
            if self.img_processor[key] != derived[key]:
                raise ValueError(
                    f"img_processor.{key}={self.img_processor[key]} disagrees with "
                    f"vision_config ({derived[key]})"
                )
        if self.img_processor.get("type_feature", "patch") != "patch":
            raise ValueError("img_processor.type_feature: only 'patch' is supported")

    def _normalize_long_rope(self, kwargs: dict) -> None:
        """Name the hub's "su" RoPE "longrope" and spell out its `factor` before transformers reads it.

        transformers renames "su" only after it has filled in the rope dict, so a "su" config would lack
        `original_max_position_embeddings` there and fail validation when saved. The factor (max / original
        context) is what transformers derives anyway; spelling it out spares its warning about Phi-3 configs.
        """
        key = "rope_scaling" if kwargs.get("rope_scaling") else None
        rope = kwargs.get("rope_scaling") if key else self.rope_parameters
        if not isinstance(rope, dict) or rope.get("rope_type", rope.get("type")) not in ("su", "longrope"):
            return
        rope = {k: v for k, v in rope.items() if k != "type"} | {"rope_type": "longrope"}
        if rope.get("factor") is None and self.original_max_position_embeddings:
            rope["factor"] = self.max_position_embeddings / self.original_max_position_embeddings
        if key:
            kwargs[key] = rope
        else:
            self.rope_parameters = rope

    def to_dict(self) -> dict[str, Any]:
        """transformers 5's dict plus the hub file's `rope_scaling` ("su") and `rope_theta` for long-RoPE.

        Tools that read config.json themselves (the upstream remote code, serving engines, converters) look
        for those keys; transformers reads them back to the same `rope_parameters`.
        """
        out = super().to_dict()
        rope = out.get("rope_parameters") or {}
        if rope.get("rope_type") == "longrope":
            out["rope_scaling"] = {
                "type": "su",
                "short_factor": rope["short_factor"],
                "long_factor": rope["long_factor"],
            }
            out["rope_theta"] = rope["rope_theta"]
        return out

    @property
    def crop_size(self) -> int:
        """Side of one HD crop in pixels (336 for the published model)."""
        return self.vision_config.image_size

    @property
    def vision_layer_idx(self) -> int:
        """Which CLIP hidden state feeds the projection (-2: the second-to-last layer's output)."""
        return int(self.img_processor.get("layer_idx", -2))

    @property
    def tokens_per_crop(self) -> int:
        """Merged image tokens per crop: (patch grid / 2)^2, 144 for 336-px crops with patch 14."""
        return int(self.img_processor["num_img_tokens"])


# The hub's config.json names model_type phi3_v: AutoConfig resolves it here, without remote code.
AutoConfig.register(Phi3VConfig.model_type, Phi3VConfig, exist_ok=True)

__all__ = ["Phi3VConfig", "CLIP_VIT_L14_336", "HUB_EMBD_LAYER"]
