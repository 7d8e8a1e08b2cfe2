"""Our model as a system: a RUN dir, a saved model dir, a preset or a hub id of Phi-3-Vision.

Everything about how it runs is decided once, when ``--model`` is resolved: which saved model a RUN dir
means, the device and dtype, the CPU threads, whether it also reads each image mirrored (as its run was
trained). ``prepare`` loads the weights; ``answer`` runs ``phi3v.generate.generate_answers`` over the rows,
each process its share under torchrun (``evaluation.shards``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.errors import UserError
from contracts.task import answers_of
from evaluation import shards
from evaluation.config import DEFAULT_MAX_NEW_TOKENS
from evaluation.systems import Answers, Progress, System, loading_bars

if TYPE_CHECKING:
    from evaluation.config import EvalConfig
    from evaluation.data import EvalSet

SMALL_MODEL_PARAMS = 100_000_000


def describe_model(spec: str, checkpoint: str = "final") -> dict[str, Any]:
    """What ``--model spec`` names among our models: a RUN dir (its ``checkpoint``), a model dir, or a preset
    or hub id (checked when loaded).

    Raises:
        UserError: a RUN dir without the model asked for, a file, a path that does not exist.
    """
    from contracts import run_layout
    from phi3v.loading import read_run_records, run_model_dir

    path = Path(spec).expanduser()
    if path.is_dir() and run_layout.is_run_dir(path):
        info = {"name": path.absolute().name, "spec": spec, "kind": "model",
                "path": str(run_model_dir(path, checkpoint)), "run": str(path.absolute()),
                "checkpoint": checkpoint, **read_run_records(path)}  # fmt: skip
        info["train_fingerprint"] = (info.get("train_dataset") or {}).get("fingerprint")
        return info
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


def _looks_like_path(spec: str) -> bool:
    if spec.startswith(("/", "./", "../", "~")):
        return True
    head = spec.split("/", 1)[0]
    return "/" in spec and Path(head).expanduser().is_dir()


def torch_settings(device: str, dtype: str) -> tuple[str, Any]:
    """The torch device and dtype ``--device`` and ``--dtype`` ask for (auto: CUDA and bf16 when there).

    Raises:
        UserError: ``--device cuda`` or ``mps`` where torch sees no such device.
    """
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA device is visible: use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise UserError(
            "--device mps but torch has no MPS device here (Apple silicon only): use --device cpu"
        )
    chosen = None if dtype == "auto" else getattr(torch, dtype)
    if chosen is None and device == "cuda" and torch.cuda.is_bf16_supported():
        chosen = torch.bfloat16
    return device, chosen


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def capped_threads(requested: int) -> tuple[int, str | None]:
    """``--threads``, at most the cores available (more threads than cores only wait for each other: 60
    times slower on a 2-core machine), and the note saying so when it was cut."""
    cores = available_cores()
    if requested > cores:
        return cores, f"--threads {requested} is more than the {cores} cores available: using {cores}"
    return requested, None


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


def mirror_views(mode: str, info: dict) -> bool:
    """Whether generation also reads the mirrored image (``--mirror``; auto: as the RUN was trained)."""
    if mode != "auto":
        return mode == "on"
    return bool(((info.get("run_config") or {}).get("train") or {}).get("mirror"))


class OurModel(System):
    """A Phi-3-Vision of ours, run in this process (its share of the rows under torchrun)."""

    shards = True

    def __init__(self, spec: str, cfg: EvalConfig, procs: Any = None) -> None:
        self.info = describe_model(spec, cfg.checkpoint)
        self.name = self.info["name"]
        self.procs = procs
        device, self.dtype = torch_settings(cfg.device, cfg.dtype)
        self.device = procs.device if procs is not None else device  # a process's own GPU under torchrun
        self.mirror = mirror_views(cfg.mirror, self.info)
        self.threads, note = capped_threads(cfg.threads)
        self.notes = [note] if note else []
        self.batch_size, self.max_new_tokens = cfg.batch_size, cfg.max_new_tokens
        self.num_crops, self.compile, self.quiet = cfg.num_crops, cfg.compile, cfg.quiet
        self.info["decoding"] = (
            "greedy, from the image and its mirror (mean log-probabilities)" if self.mirror else "greedy"
        )
        self.model = self.processor = None
        self.static, self.fallback = False, None

    def prepare(self, data: EvalSet) -> None:
        from phi3v.generate import compile_decoding, fallback_line
        from phi3v.loading import load_model

        trained_on = self.info.get("train_fingerprint")
        if trained_on and trained_on != data.dataset.get("fingerprint"):
            self.notes.append(
                f"{self.name} was trained on another dataset (its fingerprint differs from this one's)"
            )
        elif trained_on and data.split == "train":
            self.notes.append(
                f"{self.name} is scored on the split it was trained on: expect optimistic numbers"
            )
        overrides = {"num_crops": self.num_crops} if self.num_crops else None
        with loading_bars(self.quiet):
            self.model, self.processor = load_model(
                self.info["path"] or self.info["spec"],
                dtype=self.dtype,
                device=self.device,
                overrides=overrides,
            )
        self.static = self.compile
        if self.static:
            try:
                compile_decoding(self.model)  # once per model, before generating
            except Exception as exc:  # noqa: BLE001 - torch.compile refused at once (e.g. by this Python)
                self.static, self.fallback = False, fallback_line(exc)

    def answer(
        self, data: EvalSet, *, progress: Progress | None = None, max_new_tokens: int | None = None
    ) -> Answers:
        """Greedy answers for every row (each process its share under torchrun; all get every answer)."""
        from phi3v.generate import answer_token_budget, generate_answers

        model, processor = self.model, self.processor
        budget = max_new_tokens or self.max_new_tokens
        if not budget:  # the longest answer of the train split (or of the rows) and a margin
            reference = data.train if data.train is not None and len(data.train) else data.rows
            known = "title" in reference.columns  # a request served carries no answer
            budget = (
                answer_token_budget(processor, answers_of(reference)) if known else DEFAULT_MAX_NEW_TOKENS
            )
        threads = generation_threads(self.threads, model)
        rows = shards.my_rows(self.procs, len(data))
        with torch_threads(threads):
            result = generate_answers(
                model,
                processor,
                rows,
                load_image=data.load_image,
                batch_size=self.batch_size,
                max_new_tokens=budget,
                progress=progress,
                mirror=self.mirror,
                static_cache=self.static,
            )
        self.fallback = self.fallback or result.fallback
        mine = {"seconds": result.seconds, "new_tokens": result.new_tokens}
        texts, totals = shards.gather(self.procs, rows, result.texts, mine, len(data))
        speed = {
            "processes": self.procs.world_size if self.procs is not None else 1,
            "new_tokens": totals["new_tokens"],
            "max_new_tokens": budget,
            "batch_size": self.batch_size,
            "mirror": self.mirror,
            "device": str(next(model.parameters()).device),
            "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
            "threads": threads,
            "compiled": self.compile and self.fallback is None,  # static KV cache and compiled decode steps
        }
        notes = self.notes + ([self.fallback] if self.fallback else [])
        if self.fallback:
            speed["fallback"] = self.fallback
        return Answers(texts=list(texts), seconds=totals["seconds"], notes=notes, speed=speed)

    def close(self) -> None:
        self.model = self.processor = None
