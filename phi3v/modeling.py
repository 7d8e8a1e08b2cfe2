"""Phi-3-Vision on transformers' Phi-3 decoder and CLIP tower, with the published checkpoint's module tree.

Parameter names equal microsoft/Phi-3-vision-128k-instruct's (`model.embed_tokens`,
`model.vision_embed_tokens.*`, `model.layers.N.*`, `model.norm`, `lm_head`), so `from_pretrained` reads its
safetensors shards directly and `save_pretrained` writes the same layout back.

Image placeholders are negative ids in `input_ids` (-1 for image 1, as the upstream processor writes them);
their positions are overwritten with the image features, in order, by one masked scatter.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from transformers import AutoModelForCausalLM, GenerationMixin
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.phi3.modeling_phi3 import (
    Phi3DecoderLayer,
    Phi3Model,
    Phi3PreTrainedModel,
    Phi3RMSNorm,
    Phi3RotaryEmbedding,
)

from .configuration import Phi3VConfig
from .processing import IGNORE_INDEX
from .vision import Phi3VImageEmbedding

# transformers 5.24 renamed the key-value cache argument and output field from `past_key_values` to `cache`
# (the old name warns until 5.40). The model takes either name and hands the cache on under the installed
# version's, so generation neither warns nor loses the cache on any 5.x.
CACHE_ARG = "cache" if "cache" in inspect.signature(Phi3Model.forward).parameters else "past_key_values"
GENERATION_CACHE_ARG = (
    "cache"
    if "cache" in inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    else "past_key_values"
)


def _one_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    if cache is not None and past_key_values is not None and cache is not past_key_values:
        raise ValueError("pass the key-value cache once, as `cache` or as `past_key_values`")
    return cache if cache is not None else past_key_values


class Phi3VPreTrainedModel(Phi3PreTrainedModel):
    config_class = Phi3VConfig
    config: Phi3VConfig
    base_model_prefix = "model"
    _no_split_modules = ["Phi3DecoderLayer", "CLIPEncoderLayer"]
    _supports_flex_attn = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, Phi3VImageEmbedding):
            # zeros, as upstream creates them; learned during training
            init.zeros_(module.glb_GN)
            init.zeros_(module.sub_GN)


class Phi3VModel(Phi3Model, Phi3VPreTrainedModel):
    """Phi-3 decoder whose input embeddings carry the image features at the placeholder positions."""

    config_class = Phi3VConfig

    def __init__(self, config: Phi3VConfig):
        # Phi3Model.__init__ is skipped on purpose: the module order and the extra image embedding are ours.
        Phi3VPreTrainedModel.__init__(self, config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        self.vision_embed_tokens = Phi3VImageEmbedding(config)
        self.embed_dropout = nn.Dropout(config.embd_pdrop)
        self.layers = nn.ModuleList([Phi3DecoderLayer(config, i) for i in range(config.num_hidden_layers)])
        self.norm = Phi3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.rotary_emb = Phi3RotaryEmbedding(config=config)
        self.gradient_checkpointing = False
        self.post_init()

    def embed_inputs(
        self,
        input_ids: torch.LongTensor,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token embeddings with image features written over the placeholder (negative-id) positions.

        Image features are taken in the order the placeholders appear in the row-major (batch, seq) layout,
        which is the order of `pixel_values`. Without `pixel_values` (decode steps) placeholders embed as
        id 0.
        """
        embeds = self.embed_tokens(input_ids.clamp(min=0))
        if pixel_values is None:
            return embeds
        if image_sizes is None:
            raise ValueError("pixel_values given without image_sizes")
        features = self.vision_embed_tokens(pixel_values, image_sizes).to(embeds.dtype)
        placeholders = input_ids < 0
        n_slots = int(placeholders.sum())
        if n_slots != features.shape[0]:
            raise ValueError(
                f"input_ids hold {n_slots} image placeholder positions but the images give "
                f"{features.shape[0]} features: expand the image tags with the processor settings "
                "(num_crops, crop size) the pixels were made with"
            )
        return embeds.masked_scatter(placeholders.unsqueeze(-1), features)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_inputs(input_ids, pixel_values, image_sizes)
        inputs_embeds = self.embed_dropout(inputs_embeds)
        if position_ids is None and attention_mask is not None and attention_mask.ndim == 2:
            # Positions count real tokens only, so left- or right-padded rows get the positions of their own.
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -inputs_embeds.shape[1] :]
        kwargs[CACHE_ARG] = _one_cache(cache, past_key_values)
        return super().forward(
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )


class Phi3VForCausalLM(Phi3VPreTrainedModel, GenerationMixin):
    """Phi-3-Vision with its language-model head; `generate` works through transformers' GenerationMixin.

    Forward inputs: `input_ids` (B, T) with negative image placeholders, `attention_mask` (B, T),
    `pixel_values` (n_images, crops, 3, c, c), `image_sizes` (n_images, 2), optional `labels` (B, T) with -100
    where no loss.
    """

    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}
    _tp_plan = {"lm_head": "colwise_gather_output"}
    _pp_plan = {"lm_head": (["hidden_states"], ["logits"])}

    def __init__(self, config: Phi3VConfig):
        super().__init__(config)
        self.model = Phi3VModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        pixel_values: torch.Tensor | None = None,
        image_sizes: torch.Tensor | None = None,
        logits_on_labels_only: bool = False,
        label_rows: torch.LongTensor | None = None,
        cache: Cache | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Causal-LM forward.

        With `labels` and `logits_on_labels_only=True`, the head runs only where a next-token label exists
        (the answer, a few dozen of ~2,500 positions for the full model): same loss, far less logits memory,
        and the returned `logits` are (n_labelled, vocab) in row-major order of those positions.
        `label_rows` gives those positions as flat indices into (batch x length), found on the host: the head
        runs there and no loss is computed (the trainer's path: no device-to-host wait for a mask).
        """
        outputs = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=_one_cache(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            pixel_values=pixel_values,
            image_sizes=image_sizes,
            **kwargs,
        )
        loss = None
        if label_rows is not None:
            rows = outputs.last_hidden_state.flatten(0, 1).index_select(0, label_rows)
            cache_out = {CACHE_ARG: getattr(outputs, CACHE_ARG)}
            return CausalLMOutputWithPast(logits=self.lm_head(rows), **cache_out)
        if labels is not None and logits_on_labels_only:
            shift_labels = nn.functional.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
            keep = shift_labels != IGNORE_INDEX
            logits = self.lm_head(outputs.last_hidden_state[keep])
            loss = self.loss_function(
                logits=logits,
                labels=None,
                shift_labels=shift_labels[keep],
                vocab_size=self.config.vocab_size,
                **kwargs,
            )
            return CausalLMOutputWithPast(
                loss=loss, logits=logits, **{CACHE_ARG: getattr(outputs, CACHE_ARG)}
            )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs
            )
        return CausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_ARG: getattr(outputs, CACHE_ARG)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        past_key_values: Cache | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        is_first_iteration: bool | None = False,
        cache: Cache | None = None,
        **kwargs,
    ):
        past_key_values = _one_cache(cache, past_key_values)
        # Long-RoPE switches from short to long factors past the original context: the cached keys were
        # rotated with the short ones, so the whole sequence is run again (as transformers' Phi3ForCausalLM
        # does), images included.
        limit = self.config.original_max_position_embeddings
        if (
            past_key_values is not None
            and self.config.rope_parameters.get("rope_type") == "longrope"
            and input_ids.shape[1] > limit
            and past_key_values.get_seq_length() <= limit
        ):
            past_key_values = None
            kwargs["next_sequence_length"] = None
            is_first_iteration = True
        kwargs[GENERATION_CACHE_ARG] = past_key_values
        return super().prepare_inputs_for_generation(
            input_ids,
            attention_mask=attention_mask,
            inputs_embeds=inputs_embeds,
            is_first_iteration=is_first_iteration,
            **kwargs,
        )


AutoModelForCausalLM.register(Phi3VConfig, Phi3VForCausalLM, exist_ok=True)

__all__ = ["Phi3VForCausalLM", "Phi3VModel", "Phi3VPreTrainedModel"]
