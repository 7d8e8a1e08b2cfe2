"""Model FLOPs of Phi-3-Vision training and generation: pure functions of the config and token counts.

Model FLOPs are the multiply-adds (2 FLOPs each) the method's objective needs, counted from the shapes; they
leave out recomputation (gradient checkpointing), padding the objective does not cover, and elementwise work
(norms, activations, softmax, RoPE, the optimizer). Achieved model FLOP/s divided by the device's peak is the
model FLOPs utilisation (MFU), as in PaLM (Chowdhery et al. 2022, appendix B).

Per token, a weight matrix of N parameters costs

- 2N forward;
- 2N more for the gradient with respect to its input, needed whenever anything below it trains (LoRA
  adapters in every decoder layer, or trained weights);
- 2N more for the gradient of the weight itself, when it trains.

Hence 6N for full fine-tuning, 4N for a frozen base under LoRA (plus 6 per adapter parameter), 2N for a
frozen vision tower that nothing below needs gradients from. (The lowest trained layer needs no input
gradient either; counting it anyway, as 6N and 4N do, changes the total by under 1/layers.) Each part has its
own N and its own tokens:

- vision tower (CLIP): every encoded crop (the global view plus the h x w sub-crops; blank padding crops are
  not encoded) is (image_size / patch)^2 + 1 tokens through the layers that are read (23 of 24 for
  Phi-3-Vision: features come from the second-to-last layer); the patch embedding is a matmul of
  3 * patch^2 x width per patch and never needs an input gradient (its input is pixels);
- projection (MLP 4C -> hidden -> hidden): one row per merged crop token (tokens_per_crop per crop) plus the
  two learnt separators;
- decoder: every token of the sequence (text + image tokens);
- lm_head: only where a label exists (answer positions), because the objective needs no logits elsewhere; a
  loop that computes all logits does more work than the model FLOPs count (its MFU is lower for it).

Attention (no weights): per layer, Q K^T and A V cost 2 * T^2 * width each forward (4 T^2 w); backward
costs twice the forward when gradients flow through. Causal decoder attention does half of that
(FlashAttention and SDPA's causal kernels skip the masked half): counted halved by default, which gives the
lower, more honest MFU; ``causal=False`` gives PaLM's convention (the full T^2). CLIP attention is
bidirectional and never halved. Grouped-query attention does not change these FLOPs (the score and value
matmuls run per query head).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from phi3v.processing import IGNORE_INDEX

# Training modes of a part of the model
TRAIN = "train"  # weights trained: forward + input gradient + weight gradient (6N)
BACKPROP = "backprop"  # frozen, but gradients flow through it to trained parts below (4N)
FORWARD = "forward"  # frozen and nothing below trains: forward only (2N)
MODES = (TRAIN, BACKPROP, FORWARD)

METHOD_FULL = "full"
METHOD_LORA = "lora"


@dataclass(frozen=True)
class DecoderShape:
    """The text decoder's sizes (Phi-3-mini for Phi-3-Vision)."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass(frozen=True)
class VisionShape:
    """CLIP tower and projection sizes; ``layers_used`` counts the layers that run (up to the one read)."""

    hidden: int
    intermediate: int
    layers_used: int
    image_size: int  # side of one crop in pixels
    patch: int
    channels: int
    text_hidden: int  # the projection's output width (the decoder's hidden size)

    @property
    def tokens_per_crop(self) -> int:
        """CLIP sequence length of one crop: patches plus the class token."""
        return (self.image_size // self.patch) ** 2 + 1

    @property
    def merged_per_crop(self) -> int:
        """Image tokens one crop gives the decoder after the 2x2 merge: (grid / 2)^2."""
        return (self.image_size // self.patch // 2) ** 2


@dataclass(frozen=True)
class ModelShape:
    decoder: DecoderShape
    vision: VisionShape


@dataclass(frozen=True)
class SampleTokens:
    """What one training sample puts through each part.

    ``text_tokens`` + ``image_tokens`` is the decoder's sequence (padding excluded unless the objective covers
    it); ``crops`` the encoded crops (global view + sub-crops) of its images; ``head_tokens`` the positions
    whose logits the objective needs (labelled next tokens).
    """

    text_tokens: int
    image_tokens: int
    crops: int
    head_tokens: int

    @property
    def seq_len(self) -> int:
        return self.text_tokens + self.image_tokens


@dataclass(frozen=True)
class MethodModes:
    """How each part trains; ``lora_rank`` > 0 adds adapters (trained) on the listed decoder linears."""

    vision: str
    projection: str
    decoder: str
    head: str
    lora_rank: int = 0
    lora_targets: tuple[str, ...] = ()
    lora_vision: bool = False  # adapters on the CLIP linears and the projection too


@dataclass(frozen=True)
class FlopsBreakdown:
    """Model FLOPs of one sample, by part (floats: full-size numbers pass 2^53 only in sums of many)."""

    vision_linear: float
    vision_attention: float
    projection: float
    decoder_linear: float
    decoder_attention: float
    head: float
    adapters: float

    @property
    def total(self) -> float:
        return (
            self.vision_linear
            + self.vision_attention
            + self.projection
            + self.decoder_linear
            + self.decoder_attention
            + self.head
            + self.adapters
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "vision_linear": self.vision_linear,
            "vision_attention": self.vision_attention,
            "projection": self.projection,
            "decoder_linear": self.decoder_linear,
            "decoder_attention": self.decoder_attention,
            "head": self.head,
            "adapters": self.adapters,
            "total": self.total,
        }


# -- parameter counts (matmul weights only: biases and norms are elementwise work) ------------------------


def decoder_layer_linears(shape: DecoderShape) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear of one Phi-3 decoder layer (fused qkv_proj and gate_up_proj)."""
    d, hd = shape.hidden, shape.head_dim
    return {
        "qkv_proj": (d, (shape.heads + 2 * shape.kv_heads) * hd),
        "o_proj": (shape.heads * hd, d),
        "gate_up_proj": (d, 2 * shape.intermediate),
        "down_proj": (shape.intermediate, d),
    }


def decoder_linear_params(shape: DecoderShape) -> int:
    """Matmul weights of all decoder layers (embedding and lm_head excluded)."""
    per_layer = sum(i * o for i, o in decoder_layer_linears(shape).values())
    return shape.layers * per_layer


def head_params(shape: DecoderShape) -> int:
    """lm_head: hidden x vocab (the embedding is a lookup, not a matmul)."""
    return shape.hidden * shape.vocab


def vision_layer_linears(shape: VisionShape) -> dict[str, tuple[int, int]]:
    """(in, out) of each linear of one CLIP encoder layer (separate q, k, v)."""
    c = shape.hidden
    return {
        "q_proj": (c, c),
        "k_proj": (c, c),
        "v_proj": (c, c),
        "out_proj": (c, c),
        "fc1": (c, shape.intermediate),
        "fc2": (shape.intermediate, c),
    }


def vision_layer_params(shape: VisionShape) -> int:
    """Matmul weights of the CLIP layers that run."""
    return shape.layers_used * sum(i * o for i, o in vision_layer_linears(shape).values())


def patch_embed_params(shape: VisionShape) -> int:
    """The patch embedding convolution as a matmul: channels * patch^2 -> width, once per patch."""
    return shape.channels * shape.patch**2 * shape.hidden


def projection_linears(shape: VisionShape) -> dict[str, tuple[int, int]]:
    """(in, out) of the two projection linears: 4C -> hidden -> hidden."""
    return {"0": (4 * shape.hidden, shape.text_hidden), "2": (shape.text_hidden, shape.text_hidden)}


def projection_params(shape: VisionShape) -> int:
    return sum(i * o for i, o in projection_linears(shape).values())


# -- per-token multipliers --------------------------------------------------------------------------------


def linear_multiplier(mode: str, *, input_grad: bool = True) -> int:
    """FLOPs per weight per token: 2 forward, +2 input gradient, +2 weight gradient.

    Args:
        mode: TRAIN, BACKPROP or FORWARD.
        input_grad: whether this matmul's input needs a gradient when gradients flow (False for the patch
            embedding, whose input is pixels).
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    if mode == FORWARD:
        return 2
    return 2 + (2 if input_grad else 0) + (2 if mode == TRAIN else 0)


def attention_multiplier(mode: str) -> int:
    """Forward 1, plus 2 for the backward when gradients flow through (attention has no weights)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    return 1 if mode == FORWARD else 3


def attention_forward_flops(seq_len: int, width: int, layers: int, *, causal: bool) -> float:
    """Forward FLOPs of the score (Q K^T) and value (A V) matmuls: 2 * 2 * T^2 * width per layer.

    ``width`` is heads x head_dim (the query width). ``causal`` halves it (only the unmasked half is done).
    """
    flops = 4.0 * seq_len * seq_len * width * layers
    return flops / 2 if causal else flops


# -- methods ----------------------------------------------------------------------------------------------


def method_modes(
    method: str,
    *,
    freeze_vision: bool,
    lora_rank: int = 0,
    lora_targets: tuple[str, ...] = (),
) -> MethodModes:
    """The training mode of each part for ``method`` ("full", or "lora" which QLoRA shares).

    Full: decoder and head train (6N); the vision tower and projection train unless ``freeze_vision``, when
    the tower runs forward only and the projection trains without an input gradient. LoRA: the base is frozen;
    gradients flow through the decoder and head to the adapters (4N); with ``freeze_vision`` the tower and
    projection run forward only, otherwise they carry adapters too (gradients flow through them).
    """
    if method == METHOD_FULL:
        if freeze_vision:
            return MethodModes(vision=FORWARD, projection=TRAIN, decoder=TRAIN, head=TRAIN)
        return MethodModes(vision=TRAIN, projection=TRAIN, decoder=TRAIN, head=TRAIN)
    if method == METHOD_LORA:
        if lora_rank < 1:
            raise ValueError("LoRA needs lora_rank >= 1")
        vision = FORWARD if freeze_vision else BACKPROP
        # the head weight stays frozen; an lm_head adapter (when targeted) is counted with the adapters
        return MethodModes(
            vision=vision,
            projection=vision,
            decoder=BACKPROP,
            head=BACKPROP,
            lora_rank=lora_rank,
            lora_targets=tuple(lora_targets),
            lora_vision=not freeze_vision,
        )
    raise ValueError(f"method {method!r}: 'full' or 'lora'")


def adapter_params(shape: ModelShape, modes: MethodModes) -> dict[str, int]:
    """LoRA adapter parameters rank * (in + out) per adapted linear, by part ('vision', 'decoder', 'head')."""
    r = modes.lora_rank
    if r < 1:
        return {"vision": 0, "projection": 0, "decoder": 0, "head": 0}
    dec = shape.decoder
    decoder = dec.layers * sum(
        r * (i + o) for n, (i, o) in decoder_layer_linears(dec).items() if n in modes.lora_targets
    )
    head = r * (dec.hidden + dec.vocab) if "lm_head" in modes.lora_targets else 0
    vision = projection = 0
    if modes.lora_vision:
        vis = shape.vision
        vision = vis.layers_used * sum(r * (i + o) for i, o in vision_layer_linears(vis).values())
        projection = sum(r * (i + o) for i, o in projection_linears(vis).values())
    return {"vision": vision, "projection": projection, "decoder": decoder, "head": head}


def training_flops(
    shape: ModelShape, tokens: SampleTokens, modes: MethodModes, *, causal: bool = True
) -> FlopsBreakdown:
    """Model FLOPs of one training sample (forward and backward) under ``modes``.

    Args:
        shape: the model's sizes (``shape_from_config``).
        tokens: what the sample puts through each part.
        modes: ``method_modes(...)``.
        causal: count decoder attention halved (see the module docstring).
    """
    vis, dec = shape.vision, shape.decoder
    vis_tokens = tokens.crops * vis.tokens_per_crop
    patches = tokens.crops * (vis.image_size // vis.patch) ** 2
    proj_rows = tokens.crops * vis.merged_per_crop + 2 if tokens.crops else 0
    vision_linear = (
        linear_multiplier(modes.vision) * vision_layer_params(vis) * vis_tokens
        + linear_multiplier(modes.vision, input_grad=False) * patch_embed_params(vis) * patches
    )
    # each crop is its own CLIP sequence
    vision_attention = (
        attention_multiplier(modes.vision)
        * tokens.crops
        * attention_forward_flops(vis.tokens_per_crop, vis.hidden, vis.layers_used, causal=False)
    )
    # the projection's input needs a gradient only if the tower below it gets one
    projection = (
        linear_multiplier(modes.projection, input_grad=modes.vision != FORWARD)
        * projection_params(vis)
        * proj_rows
    )
    decoder_linear = linear_multiplier(modes.decoder) * decoder_linear_params(dec) * tokens.seq_len
    decoder_attention = attention_multiplier(modes.decoder) * attention_forward_flops(
        tokens.seq_len, dec.heads * dec.head_dim, dec.layers, causal=causal
    )
    head = linear_multiplier(modes.head) * head_params(dec) * tokens.head_tokens
    adapters_by_part = adapter_params(shape, modes)
    # adapters train: 6 per parameter per token of their part
    adapters = 6.0 * (
        adapters_by_part["vision"] * vis_tokens
        + adapters_by_part["projection"] * proj_rows
        + adapters_by_part["decoder"] * tokens.seq_len
        + adapters_by_part["head"] * tokens.head_tokens
    )
    return FlopsBreakdown(
        vision_linear=float(vision_linear),
        vision_attention=float(vision_attention),
        projection=float(projection),
        decoder_linear=float(decoder_linear),
        decoder_attention=float(decoder_attention),
        head=float(head),
        adapters=float(adapters),
    )


def generation_flops(
    shape: ModelShape, prompt: SampleTokens, new_tokens: int, *, causal: bool = True
) -> FlopsBreakdown:
    """Model FLOPs of greedy generation with a KV cache: the prompt's forward (prefill, logits for its last
    position only) and ``new_tokens`` decode steps, step k attending over prompt + k cached positions.

    The prompt's ``head_tokens`` is ignored: prefill needs one row of logits, each decode step one more
    (the last step's token is produced by the step before it, so new_tokens rows in all).
    """
    fwd = MethodModes(vision=FORWARD, projection=FORWARD, decoder=FORWARD, head=FORWARD)
    prefill = training_flops(
        shape, SampleTokens(prompt.text_tokens, prompt.image_tokens, prompt.crops, 1), fwd, causal=causal
    )
    dec = shape.decoder
    width = dec.heads * dec.head_dim
    # decode steps: new_tokens - 1 forwards of one token each (the first new token comes from prefill)
    steps = max(0, new_tokens - 1)
    decode_linear = 2.0 * decoder_linear_params(dec) * steps
    context = sum(prompt.seq_len + k for k in range(1, steps + 1))  # keys each step's query attends to
    decode_attention = 4.0 * width * dec.layers * context
    return FlopsBreakdown(
        vision_linear=prefill.vision_linear,
        vision_attention=prefill.vision_attention,
        projection=prefill.projection,
        decoder_linear=prefill.decoder_linear + decode_linear,
        decoder_attention=prefill.decoder_attention + decode_attention,
        head=prefill.head + 2.0 * head_params(dec) * steps,
        adapters=0.0,
    )


def sample_tokens(
    input_ids: torch.Tensor, labels: torch.Tensor | None, image_hw: Sequence[int] | None, crop_size: int
) -> SampleTokens:
    """Token counts of one example, as the processor encodes it.

    Args:
        input_ids: 1-D ids without padding; image placeholders are negative.
        labels: 1-D labels (-100 where no loss) or None (a prompt: no head tokens counted).
        image_hw: the padded (height, width) in pixels of its image (``image_sizes`` row), or None.
        crop_size: side of one HD crop in pixels.

    Returns:
        SampleTokens: text and image tokens, encoded crops (global view + h x w grid), labelled next tokens.
    """
    image = int((input_ids < 0).sum())
    crops = 0
    if image and image_hw is not None:
        h, w = (int(v) for v in image_hw)
        crops = 1 + (h // crop_size) * (w // crop_size)
    head = int((labels[1:] != IGNORE_INDEX).sum()) if labels is not None else 0
    return SampleTokens(int(input_ids.shape[0]) - image, image, crops, head)


def batch_sample_tokens(batch: dict[str, torch.Tensor], crop_size: int) -> list[SampleTokens]:
    """``sample_tokens`` of every row of a collated batch (``input_ids``, ``attention_mask``, optional
    ``labels`` and ``image_sizes``), padding excluded."""
    ids, mask = batch["input_ids"], batch["attention_mask"].bool()
    labels, sizes = batch.get("labels"), batch.get("image_sizes")
    out = []
    for row in range(ids.shape[0]):
        keep = mask[row]
        out.append(
            sample_tokens(
                ids[row][keep],
                labels[row][keep] if labels is not None else None,
                sizes[row].tolist() if sizes is not None else None,
                crop_size,
            )
        )
    return out


def shape_from_config(config) -> ModelShape:
    """ModelShape of a Phi3VConfig (duck-typed: text fields, ``vision_config``, ``vision_layer_idx``)."""
    vision = config.vision_config
    layer_idx = int(getattr(config, "vision_layer_idx", -2))
    n_layers = int(vision.num_hidden_layers)
    layers_used = layer_idx + n_layers + 1 if layer_idx < 0 else layer_idx
    return ModelShape(
        decoder=DecoderShape(
            hidden=int(config.hidden_size),
            intermediate=int(config.intermediate_size),
            layers=int(config.num_hidden_layers),
            heads=int(config.num_attention_heads),
            kv_heads=int(config.num_key_value_heads or config.num_attention_heads),
            vocab=int(config.vocab_size),
        ),
        vision=VisionShape(
            hidden=int(vision.hidden_size),
            intermediate=int(vision.intermediate_size),
            layers_used=layers_used,
            image_size=int(vision.image_size),
            patch=int(vision.patch_size),
            channels=int(getattr(vision, "num_channels", 3)),
            text_hidden=int(config.hidden_size),
        ),
    )


def matmul_flops(m: int, k: int, n: int) -> float:
    """FLOPs of one (m x k) @ (k x n) matrix multiply: 2 m k n."""
    return 2.0 * m * k * n


def mfu(model_flops: float, seconds: float, peak_flops_per_s: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s over the peak FLOP/s."""
    if seconds <= 0 or peak_flops_per_s <= 0:
        raise ValueError("seconds and peak FLOP/s must be positive")
    return model_flops / seconds / peak_flops_per_s


__all__ = [
    "BACKPROP",
    "FORWARD",
    "TRAIN",
    "DecoderShape",
    "FlopsBreakdown",
    "MethodModes",
    "ModelShape",
    "SampleTokens",
    "VisionShape",
    "adapter_params",
    "attention_forward_flops",
    "batch_sample_tokens",
    "decoder_linear_params",
    "generation_flops",
    "head_params",
    "matmul_flops",
    "method_modes",
    "mfu",
    "patch_embed_params",
    "projection_params",
    "sample_tokens",
    "shape_from_config",
    "training_flops",
    "vision_layer_params",
]


# Dense bf16 peak of one GPU (vendor datasheets), for model FLOPs utilisation; unknown GPUs get no MFU.
# Dense bf16 tensor-core peaks from the vendors' datasheets, by what the device's name holds (first match
# wins, so the PCIe and NVL parts come before the plain "H100" of the SXM part). One table for every MFU the
# project reports: finetune's summary and the benchmarks alike.
DATASHEET_BF16_PEAKS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("A100", 312e12),
)


def datasheet_peak(device_name: str) -> float | None:
    """The dense bf16 peak FLOP/s of the GPU called ``device_name``; None for a GPU the table lacks."""
    return next((peak for key, peak in DATASHEET_BF16_PEAKS if key in device_name), None)


def peak_flops(device: torch.device) -> float | None:
    """The datasheet peak of ``device`` (a CUDA device); None on a CPU or an unknown GPU."""
    if device.type != "cuda":
        return None
    return datasheet_peak(torch.cuda.get_device_name(device))
