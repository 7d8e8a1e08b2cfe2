"""Batched greedy generation: answers for many images at once, the same for evaluation and training samples.

Prompts come from the processor (``phi3v.chat.build_prompt`` inside ``encode_example``), so evaluation
asks exactly what training taught. A batch is left-padded, because generation appends on the right
and every row's last prompt token must sit in the last column: pad ids with attention mask 0 on the left, the
prompt after. ``model.generate`` runs greedy decoding with the KV cache and stops each row at ``<|end|>`` or
eos. ``evaluate --compile`` decodes on the static KV cache with a compiled decode step (``compile_decoding``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

ANSWER_MARGIN = 8  # tokens beyond the longest training answer before generation is cut
STATIC_WIDTH_MULTIPLE = 64  # prompt widths on the static KV cache are rounded up to this many tokens


@dataclass
class GenerationResult:
    """Answer texts in input order, and how long generating them took."""

    texts: list[str]
    seconds: float
    new_tokens: int
    fallback: str | None = None  # why the static KV cache was left for the plain path, when it was

    @property
    def samples_per_s(self) -> float:
        return len(self.texts) / self.seconds if self.seconds > 0 else float("inf")


def collate_prompts(
    encodings: Sequence[dict], pad_token_id: int, multiple_of: int = 1
) -> dict[str, torch.Tensor]:
    """Left-pad prompt encodings (``processor.encode_example(image, None)``) into one batch, as wide as the
    longest prompt rounded up to ``multiple_of`` tokens.

    Returns:
        ``input_ids``, ``attention_mask`` (B, T); ``pixel_values`` (B, crops, 3, c, c); ``image_sizes``.
    """
    lengths = [int(e["input_ids"].shape[0]) for e in encodings]
    width = -(-max(lengths) // multiple_of) * multiple_of
    input_ids = torch.full((len(encodings), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(encodings), width), dtype=torch.long)
    for row, (enc, length) in enumerate(zip(encodings, lengths, strict=True)):
        input_ids[row, width - length :] = enc["input_ids"]
        attention_mask[row, width - length :] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "pixel_values": torch.stack([e["pixel_values"] for e in encodings]),
        "image_sizes": torch.stack([torch.as_tensor(e["image_sizes"]) for e in encodings]),
    }


def answer_token_budget(processor, answers: Sequence[str]) -> int:
    """``max_new_tokens`` enough for the longest of ``answers`` plus ``<|end|>`` and a margin."""
    longest = max(
        (len(processor.tokenizer(a, add_special_tokens=False).input_ids) for a in answers), default=48
    )
    return longest + 1 + ANSWER_MARGIN


def generate_answers(
    model,
    processor,
    images: Sequence[Any],
    *,
    load_image: Callable[[Any], Image.Image] | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
    mirror: bool = False,
    static_cache: bool = False,
) -> GenerationResult:
    """Greedy answers for ``images`` (PIL images, or keys such as paths that ``load_image`` reads), in input
    order.

    Examples are sorted by prompt length before batching (images of other aspect ratios have other token
    counts), so padding stays small; results are put back in input order. With ``mirror`` each image is
    also read mirrored left to right, and each next token is the argmax of the two views' mean
    log-probabilities (both rows then carry the same answer; twice the compute). With ``static_cache``
    decoding runs on transformers' static KV cache, the one a compiled decode step (``compile_decoding``)
    needs; where that fails, the batch and the rest decode on the plain path and ``fallback`` says why.
    """
    order = list(range(len(images)))
    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    stop_ids = list(processor.stop_token_ids)
    texts: list[str] = [""] * len(images)
    views = 2 if mirror else 1  # rows per image in a batch
    new_tokens = 0
    static, fallback = static_cache, None
    rows_per_batch = min(batch_size, len(order))

    def decode(batch: dict, on_static_cache: bool) -> torch.Tensor:
        # generate's own compile stays off: whether decoding is compiled is the caller's choice
        extra = {"cache_implementation": "static", "disable_compile": True} if on_static_cache else {}
        with torch.inference_mode():
            return model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=stop_ids,
                pad_token_id=processor.pad_token_id,
                use_cache=True,
                **extra,
            )

    start = time.perf_counter()
    encodings: dict[int, dict] = {}
    lengths: dict[int, int] = {}
    # Encode lazily per chunk so that images are not all held in memory at once.
    chunk = max(batch_size * 8, batch_size)
    for chunk_start in range(0, len(order), chunk):
        idx = order[chunk_start : chunk_start + chunk]
        for i in idx:
            image = images[i]
            if not isinstance(image, Image.Image):
                if load_image is None:
                    raise TypeError("images given as paths or keys need load_image")
                image = load_image(image)
            encodings[i] = [processor.encode_example(image, None)]
            if mirror:
                encodings[i].append(processor.encode_example(image.transpose(Image.FLIP_LEFT_RIGHT), None))
            lengths[i] = int(encodings[i][0]["input_ids"].shape[0])
        idx = sorted(idx, key=lambda i: (lengths[i], i))
        for b in range(0, len(idx), batch_size):
            rows = idx[b : b + batch_size]
            views_of = [encodings.pop(i) for i in rows]  # each image's encodings, one per view
            if static:
                # Few shapes, few recompiles of the compiled decode step: every batch has the same rows (the
                # last filled with copies of its last image) and widths rounded up to a multiple.
                views_of += [views_of[-1]] * (rows_per_batch - len(rows))
            multiple = STATIC_WIDTH_MULTIPLE if static else 1
            batch = collate_prompts([e for v in views_of for e in v], processor.pad_token_id, multiple)
            batch = {k: v.to(device) for k, v in batch.items()}
            batch["pixel_values"] = batch["pixel_values"].to(dtype)
            if views > 1:
                from transformers import LogitsProcessorList  # here: evaluate's start-up stays without it

                batch["logits_processor"] = LogitsProcessorList([_ViewMean(views)])
            out = None
            if static:
                try:
                    out = decode(batch, on_static_cache=True)
                except Exception as exc:  # noqa: BLE001 - a refused static cache or compile: the plain path
                    static, fallback = False, fallback_line(exc)
            if out is None:
                out = decode(batch, on_static_cache=False)
            generated = out[::views, batch["input_ids"].shape[1] :].cpu()
            for row, i in enumerate(rows):
                texts[i] = processor.decode_answer(generated[row])
                new_tokens += _count_until_stop(generated[row].tolist(), stop_ids)
            if progress is not None:
                progress(len(rows))
    seconds = time.perf_counter() - start
    return GenerationResult(texts=texts, seconds=seconds, new_tokens=new_tokens, fallback=fallback)


def fallback_line(exc: Exception) -> str:
    first = (str(exc).splitlines() or [""])[0][:120]
    return (
        f"the static KV cache or compiled decoding failed ({type(exc).__name__}: {first}); "
        "decoded with the dynamic cache, uncompiled, instead"
    )


def compile_decoding(model, backend: str = "inductor") -> str:
    """Compile ``model``'s decode steps on a static KV cache, in place; once per model, before generating.

    Only a step on a static cache without images is compiled: its shapes change only with the batch and
    the cache size, while prefill (the step that reads the images) changes with every batch and stays eager,
    as does decoding on a dynamic cache (the fallback). Returns the mode: "reduce-overhead" (CUDA graphs)
    on CUDA, "default" elsewhere.
    """
    eager = model.forward
    on_cuda = next(model.parameters()).device.type == "cuda"
    mode = "reduce-overhead" if on_cuda and backend == "inductor" else None
    compiled = torch.compile(eager, backend=backend, mode=mode)

    @functools.wraps(eager)  # generate reads the forward's signature (position_ids): keep it
    def forward(*args, **kwargs):
        static = any(getattr(kwargs.get(k), "is_compileable", False) for k in ("cache", "past_key_values"))
        step = compiled if static and kwargs.get("pixel_values") is None else eager
        return step(*args, **kwargs)

    model.forward = forward
    return mode or "default"


class _ViewMean:
    """A logits processor for ``generate``: replaces each group of ``views`` consecutive rows' scores by the
    group's mean log-probabilities."""

    def __init__(self, views: int) -> None:
        self.views = views

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(scores.float(), dim=-1)
        mean = logp.view(-1, self.views, logp.shape[-1]).mean(1, keepdim=True)
        return mean.expand(-1, self.views, -1).reshape(scores.shape)


def _count_until_stop(ids: Sequence[int], stop_ids: Sequence[int]) -> int:
    for n, t in enumerate(ids):
        if t in stop_ids:
            return n + 1
    return len(ids)
