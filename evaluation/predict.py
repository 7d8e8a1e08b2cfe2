"""The model side of an evaluation: what ``--model`` names, loading it, batched greedy generation.

Prompts come from the processor (``finetune.phi3v.chat.build_prompt`` inside ``encode_example``), so
evaluation asks exactly what training taught. A batch is left-padded, because generation appends on the right
and every row's last prompt token must sit in the last column: pad ids with attention mask 0 on the left, the
prompt after. ``model.generate`` runs greedy decoding with the KV cache and stops each row at ``<|end|>`` or
eos. ``evaluate --compile`` decodes on the static KV cache with a compiled decode step (``compile_decoding``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from contracts.errors import UserError
from evaluation import shards
from evaluation.config import EvalConfig

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
    images: Sequence[str] | Sequence[Image.Image],
    *,
    load_image: Callable[[str], Image.Image] | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
    mirror: bool = False,
    static_cache: bool = False,
) -> GenerationResult:
    """Greedy answers for ``images`` (PIL images, or paths read with ``load_image``), in input order.

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
                    raise TypeError("images given as paths need load_image")
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
                    static, fallback = False, _fallback_line(exc)
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


def _fallback_line(exc: Exception) -> str:
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


# -- the model of an evaluation ---------------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    if spec.startswith(("/", "./", "../", "~")):
        return True
    head = spec.split("/", 1)[0]
    return "/" in spec and Path(head).expanduser().is_dir()


def resolve_model_spec(cfg: EvalConfig) -> dict:
    """Describe what ``--model`` names: a baseline, a RUN dir, a model dir, or a preset / hub id."""
    from evaluation.baselines import BASELINES
    from finetune import run_layout

    spec = cfg.model
    if spec in BASELINES:
        return {"name": spec, "spec": spec, "kind": "baseline", "path": None, "run": None}
    path = Path(spec).expanduser()
    if path.is_dir() and run_layout.is_run_dir(path):
        sub = run_layout.BEST_DIR if cfg.checkpoint == "best" else run_layout.MODEL_DIR
        if not (path / sub).is_dir():
            if sub == run_layout.MODEL_DIR:
                best = (path / run_layout.BEST_DIR).is_dir()
                raise UserError(
                    f"RUN dir {path} has not finished (no {sub}/): "
                    + ("evaluate its best checkpoint with --checkpoint best, or " if best else "")
                    + f"finish it with `finetune --out {path} --resume`"
                )
            raise UserError(
                f"RUN dir {path} has no {sub}/ (it has not validated yet): use --checkpoint final once it "
                "has finished"
            )
        meta = {"name": path.absolute().name, "spec": spec, "kind": "model",
                "path": str((path / sub).absolute()), "run": str(path.absolute()),
                "checkpoint": cfg.checkpoint}  # fmt: skip
        for key, file in (("run_config", run_layout.CONFIG_FILE), ("train_dataset", run_layout.DATASET_FILE)):
            try:
                meta[key] = json.loads((path / file).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                meta[key] = None
        meta["train_fingerprint"] = (meta.get("train_dataset") or {}).get("fingerprint")
        return meta
    if path.exists() and not path.is_dir():
        raise UserError(f"--model {spec} is a file: give a RUN dir, a model dir, a preset or a baseline")
    if _looks_like_path(spec) and not path.exists():
        raise UserError(
            f"no such model dir: {spec} (train one with `finetune`, or name a preset or baseline)"
        )
    if path.is_dir():
        return {"name": path.absolute().name, "spec": spec, "kind": "model", "path": str(path.absolute()),
                "run": None}  # fmt: skip
    return {"name": spec, "spec": spec, "kind": "model", "path": None, "run": None}


def torch_settings(cfg: EvalConfig):
    """The torch device and dtype ``--device`` and ``--dtype`` ask for (auto: CUDA and bf16 when there)."""
    import torch

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA device is visible: use --device cpu")
    dtype = None if cfg.dtype == "auto" else getattr(torch, cfg.dtype)
    if dtype is None and device == "cuda" and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    return device, dtype


@contextlib.contextmanager
def torch_threads(n: int):
    """Use ``n`` intra-op CPU threads inside the block (0: leave torch's setting), then restore."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


SMALL_MODEL_PARAMS = 100_000_000


def generation_threads(requested: int, model) -> int:
    """CPU threads for generation: ``requested``, or for 0 one thread for a small model on the CPU.

    A small model's decoding steps are many tiny matmuls; a second thread mostly spin-waits at each op's
    barrier, many times slower on a shared machine. Large models (and GPUs) keep torch's default.
    """
    import torch

    if requested:
        return requested
    params = sum(p.numel() for p in model.parameters())
    if next(model.parameters()).device.type == "cpu" and params < SMALL_MODEL_PARAMS:
        return 1
    return torch.get_num_threads()


def mirror_views(cfg: EvalConfig, model_meta: dict) -> bool:
    """Whether generation also reads the mirrored image (``--mirror``; auto: as the RUN was trained)."""
    if cfg.mirror != "auto":
        return cfg.mirror == "on"
    return bool(((model_meta.get("run_config") or {}).get("train") or {}).get("mirror"))


def load_model_for(cfg: EvalConfig, model_meta: dict, device: Any = None):
    """Load the model and processor ``--model`` names, on ``--device`` (or ``device``: a process's own GPU
    under torchrun) in ``--dtype``."""
    from finetune.loading import load_model

    chosen, dtype = torch_settings(cfg)
    overrides = {"num_crops": cfg.num_crops} if cfg.num_crops else None
    spec = model_meta["path"] or model_meta["spec"]
    return load_model(spec, dtype=dtype, device=device or chosen, overrides=overrides)


def run_model(
    cfg: EvalConfig,
    model,
    processor,
    eval_df: pd.DataFrame,
    train_df: pd.DataFrame | None,
    progress: Callable[[int], None] | None = None,
    mirror: bool = False,
    procs: Any = None,
) -> tuple[list[str], dict]:
    """Generate the model's answers for every row (with ``mirror``, from each image and its mirror; with
    ``--compile``, on the static KV cache with compiled decode steps); returns the texts and the speed
    record (``fallback``: why ``--compile`` was left, when it was). Under torchrun (``procs``) this process
    generates its share and every process gets all the answers back (``evaluation.shards``)."""
    from contracts.dataset.reader import load_image
    from contracts.task import build_answer

    device = next(model.parameters()).device
    max_new = cfg.max_new_tokens
    if not max_new:
        ref = train_df if train_df is not None and len(train_df) else eval_df
        answers = [
            build_answer(t, c, p)
            for t, c, p in zip(ref["title"], ref["category3_code"], ref["full_price"], strict=True)
        ]
        max_new = answer_token_budget(processor, answers)
    threads = generation_threads(cfg.threads, model)
    paths = list(eval_df["image_path"])
    rows = shards.my_rows(procs, len(paths))
    static, fallback = cfg.compile, None
    if static:
        try:
            compile_decoding(model)  # here, once per model: run_model is called once per loaded model
        except Exception as exc:  # noqa: BLE001 - torch.compile refused at once (e.g. by this Python)
            static, fallback = False, _fallback_line(exc)
    with torch_threads(threads):
        result = generate_answers(
            model,
            processor,
            [paths[i] for i in rows],
            load_image=load_image,
            batch_size=cfg.batch_size,
            max_new_tokens=max_new,
            progress=progress,
            mirror=mirror,
            static_cache=static,
        )
    fallback = fallback or result.fallback
    mine = {"seconds": result.seconds, "new_tokens": result.new_tokens}
    texts, totals = shards.gather(procs, rows, result.texts, mine, len(paths))
    speed = {
        "samples_per_s": len(texts) / totals["seconds"] if totals["seconds"] > 0 else None,
        "seconds": totals["seconds"],
        "new_tokens": totals["new_tokens"],
        "processes": procs.world_size if procs is not None else 1,
        "max_new_tokens": max_new,
        "batch_size": cfg.batch_size,
        "mirror": mirror,
        "device": str(device),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "threads": threads,
        "compiled": cfg.compile and fallback is None,  # static KV cache and compiled decode steps
    }
    if fallback:
        speed["fallback"] = fallback
    return texts, speed
