"""Batched greedy generation: images in, answer texts out (the I/O edge around the model).

Prompts come from the processor (``finetune.chat.build_prompt`` inside ``encode_example``), so evaluation asks
exactly what training taught. A batch is left-padded, because generation appends on the right and every row's
last prompt token must sit in the last column: pad ids with attention mask 0 on the left, the prompt after.
``model.generate`` runs greedy decoding with the KV cache and stops each row at ``<|end|>`` or eos.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from PIL import Image

ANSWER_MARGIN = 8  # tokens beyond the longest training answer before generation is cut


@dataclass
class GenerationResult:
    """Answer texts in input order, and how long generating them took."""

    texts: list[str]
    seconds: float
    new_tokens: int

    @property
    def samples_per_s(self) -> float:
        return len(self.texts) / self.seconds if self.seconds > 0 else float("inf")


def collate_prompts(encodings: Sequence[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompt encodings (``processor.encode_example(image, None)``) into one batch.

    Returns:
        ``input_ids``, ``attention_mask`` (B, T); ``pixel_values`` (B, crops, 3, c, c); ``image_sizes``.
    """
    lengths = [int(e["input_ids"].shape[0]) for e in encodings]
    width = max(lengths)
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
    images: Sequence[str] | Sequence[Image.Image],
    *,
    load_image: Callable[[str], Image.Image] | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
) -> GenerationResult:
    """Greedy answers for ``images`` (PIL images, or paths read with ``load_image``), in input order.

    Examples are sorted by prompt length before batching (images of other aspect ratios have other token
    counts), so padding stays small; results are put back in input order.
    """
    order = list(range(len(images)))
    device = next(model.parameters()).device
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    stop_ids = list(processor.stop_token_ids)
    texts: list[str] = [""] * len(images)
    new_tokens = 0
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
                    raise TypeError("images given as paths need load_image")
                image = load_image(image)
            encodings[i] = processor.encode_example(image, None)
            lengths[i] = int(encodings[i]["input_ids"].shape[0])
        idx = sorted(idx, key=lambda i: (lengths[i], i))
        for b in range(0, len(idx), batch_size):
            rows = idx[b : b + batch_size]
            batch = collate_prompts([encodings.pop(i) for i in rows], processor.pad_token_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            batch["pixel_values"] = batch["pixel_values"].to(dtype)
            with torch.inference_mode():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=stop_ids,
                    pad_token_id=processor.pad_token_id,
                    use_cache=True,
                )
            generated = out[:, batch["input_ids"].shape[1] :].cpu()
            for row, i in enumerate(rows):
                texts[i] = processor.decode_answer(generated[row])
                new_tokens += _count_until_stop(generated[row].tolist(), stop_ids)
            if progress is not None:
                progress(len(rows))
    return GenerationResult(texts=texts, seconds=time.perf_counter() - start, new_tokens=new_tokens)


def _count_until_stop(ids: Sequence[int], stop_ids: Sequence[int]) -> int:
    for n, t in enumerate(ids):
        if t in stop_ids:
            return n + 1
    return len(ids)
