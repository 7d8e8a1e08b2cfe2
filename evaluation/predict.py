"""The model side of an evaluation: what ``--model`` names, loading it, and running its batched generation
(``phi3v.generate``) over a split, on one process or several under torchrun."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from contracts.errors import UserError
from evaluation import shards
from evaluation.config import EvalConfig
from phi3v.generate import answer_token_budget, compile_decoding, fallback_line, generate_answers

# -- the model of an evaluation ---------------------------------------------------------------------


def _looks_like_path(spec: str) -> bool:
    if spec.startswith(("/", "./", "../", "~")):
        return True
    head = spec.split("/", 1)[0]
    return "/" in spec and Path(head).expanduser().is_dir()


def resolve_model_spec(cfg: EvalConfig) -> dict:
    """Describe what ``--model`` names: a baseline, a RUN dir, a model dir, or a preset / hub id."""
    from contracts import run_layout
    from evaluation.baselines import BASELINES

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
    from phi3v.loading import load_model

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
            static, fallback = False, fallback_line(exc)
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
