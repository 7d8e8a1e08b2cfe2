"""The RUN dir on disk: claiming it, atomic JSON and dir writes, and resumable checkpoints.

A checkpoint holds the trainable parameters (safetensors), the optimizer and scheduler state dicts
(``torch.save`` of tensors and plain values, read back with ``weights_only=True``), the RNG states and the
position in the data. Each one is written into a temporary sibling and renamed into place, so a crash leaves
the previous checkpoint intact and never half a new one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import random
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from contracts import run_layout as names
from contracts.errors import UserError
from contracts.outputs import (
    OutputLock,
    aside_sibling,
    check_replaceable,
    remove_leftovers,
    remove_leftovers_inside,
    remove_path,
    swap_dir_into_place,
    temp_sibling,
    write_json_atomically,
)
from finetune.config import TrainConfig


@dataclass
class RunClaim:
    """A RUN dir this process holds (``claim_run_dir``) until ``release``.

    ``run`` is where the run writes: the RUN dir itself, or, when ``--overwrite`` replaces a run, its
    replacement beside it (``names.replacement_of``): the old run stays whole in ``final`` until the new one
    has finished and ``finish`` swaps it in, so a crash at any moment leaves the old run, not a mix or
    nothing. A new run's start can still fail (an unreadable image, a bad model): ``failed`` then removes what
    it wrote.
    """

    run: Path
    final: Path  # the RUN dir the user named
    saved: dict[str, Any] | None  # a resumed run's RUN/config.json
    lock: OutputLock
    created: bool = False  # ``run`` did not exist before

    @property
    def replaces(self) -> bool:
        """Whether this run takes the place of an earlier one when it finishes."""
        return self.run != self.final

    def failed(self) -> None:
        if self.saved is not None or not self.run.is_dir():  # a resumed run keeps what it had
            return
        if self.created:
            shutil.rmtree(self.run, ignore_errors=True)
        else:  # an empty dir the user made: left empty
            for entry in self.run.iterdir():
                remove_path(entry)

    def finish(self) -> Path:
        """The run has finished: a replacement takes the old run's place (atomically). Returns the RUN dir."""
        if self.replaces:
            swap_dir_into_place(self.run, self.final, replace=True)
            self.run = self.final
        return self.final

    def release(self) -> None:
        self.lock.release()


def run_being_written(run: Path, *, resume: bool) -> Path:
    """Where a run into ``run`` writes, as ``claim_run_dir`` decided it (for the processes that did not
    claim): the replacement an ``--overwrite`` started, when there is one, else ``run`` itself."""
    pending = names.replacement_of(run)
    if resume:
        return pending if names.is_our_run(pending) else run
    return pending if pending.is_dir() else run


def claim_run_dir(out: str | Path, *, resume: bool, overwrite: bool) -> RunClaim:
    """Lock ``out`` for this run and make it ready: empty for a new run, as it was for ``resume``. With
    ``overwrite`` an existing run is not touched: the new one is written beside it and replaces it when it
    finishes (``RunClaim.finish``); ``resume`` goes on with such a replacement when one was stopped.

    Raises:
        UserError: another run holds ``out``; ``out`` is a file or an unsafe place; it holds something else
            than a run of ours; it holds a run and neither ``resume`` nor ``overwrite`` was given; ``resume``
            and there is no run to continue.
    """
    run = Path(out).expanduser().absolute()
    lock = OutputLock(run).acquire()
    try:
        remove_leftovers(run)
        pending = names.replacement_of(run)
        if names.is_our_run(pending) and (pending / names.MODEL_DIR).is_dir():
            # a replacement that finished but was stopped before it took the old run's place: it does now
            swap_dir_into_place(pending, run, replace=True)
        if resume:
            work = run_being_written(run, resume=True)
            if not names.is_our_run(work):
                raise UserError(
                    f"--resume: {run} holds no run to continue (no {names.CONFIG_FILE}): drop --resume"
                )
            for folder in (work, work / names.CHECKPOINTS_DIR, work / names.CACHE_DIR):
                remove_leftovers_inside(folder)
            return RunClaim(work, run, read_json(work / names.CONFIG_FILE), lock)
        hint = "pass --resume to continue it, --overwrite to replace it, or choose another --out"
        if pending.exists():
            hint = (
                f"a replacement started with --overwrite has not finished ({pending}): pass --resume to "
                "finish it, --overwrite to start it again, or choose another --out"
            )
        replace = check_replaceable(run, names.RUN_KIND, overwrite=overwrite, occupied_hint=hint)
        if pending.exists():  # an unfinished replacement: given up for this new run (it is ours, or refused)
            check_replaceable(pending, names.RUN_KIND, overwrite=True)
            remove_path(pending)
        work = pending if replace else run
        claim = RunClaim(work, run, None, lock, created=replace or not run.exists())
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            claim.failed()
            raise UserError(f"cannot create --out {run}: {exc.strerror}; choose another --out") from None
        return claim
    except BaseException:
        lock.release()
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def write_dir(dest: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create dir ``dest`` atomically: ``fill`` writes into a temporary sibling that then replaces it."""
    dest = Path(dest)
    tmp = temp_sibling(dest)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # A dir cannot replace a non-empty dir: move the old one aside first; between the two renames a reader
    # finds the old copy under its aside name, never a mix.
    old = aside_sibling(dest)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    remove_path(old)
    return dest


# -- RNG -------------------------------------------------------------------------------------------------


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """RNG states: tensors (torch, CUDA) for ``rng.pt`` and JSON-able ones (numpy, python) for JSON."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["cuda"] = torch.cuda.get_rng_state()
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, gauss_next = random.getstate()
    plain = {
        "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
        "python": [version, list(state), gauss_next],
    }
    return tensors, plain


def restore_rng(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["cuda"])
    kind, keys, pos, has_gauss, gauss = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, state, gauss_next = plain["python"]
    random.setstate((version, tuple(state), gauss_next))


# -- checkpoints -----------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """What a checkpoint holds, in memory."""

    path: Path
    trainable: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: dict[str, torch.Tensor]
    state: dict[str, Any]  # step, epoch, batch position, best validation loss, RNG states of numpy and python
    ema: dict[str, torch.Tensor] | None = None  # the weight average of --ema

    @property
    def step(self) -> int:
        return int(self.state["step"])


def save_checkpoint(
    run: Path,
    *,
    step: int,
    trainable: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    state: dict[str, Any],
    keep_last: int,
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write checkpoint ``step`` atomically, then delete all but the newest ``keep_last``; return its path."""
    rng_tensors, rng_plain = capture_rng()
    full_state = {**state, "step": step, "rng": rng_plain}

    def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, path)

    def fill(tmp: Path) -> None:
        save_tensors(trainable, tmp / names.WEIGHTS_FILE)
        if ema is not None:
            save_tensors(ema, tmp / names.EMA_FILE)
        torch.save(optimizer, tmp / names.OPTIMIZER_FILE)
        torch.save(scheduler, tmp / names.SCHEDULER_FILE)
        torch.save(rng_tensors, tmp / names.RNG_FILE)
        # trainer_state.json last: its presence marks a complete checkpoint.
        write_json_atomically(tmp / names.TRAINER_STATE_FILE, full_state)

    root = run / names.CHECKPOINTS_DIR
    root.mkdir(exist_ok=True)
    path = write_dir(root / names.checkpoint_name(step), fill)
    for old in list_checkpoints(run)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    remove_warmup_checkpoints(run)  # fine-tuning goes on from here now
    return path


def list_checkpoints(run: Path) -> list[Path]:
    """Complete checkpoint dirs of ``run``, oldest first."""
    root = Path(run) / names.CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [
        (step, p)
        for p in root.iterdir()
        if (step := names.checkpoint_step(p)) is not None and (p / names.TRAINER_STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run: Path) -> Path | None:
    found = list_checkpoints(run)
    return found[-1] if found else None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint dir back; tensors only, never pickled objects (``weights_only=True``)."""

    def load_pt(name: str) -> Any:
        return torch.load(path / name, map_location=map_location, weights_only=True)

    try:
        return Checkpoint(
            path=path,
            trainable=load_file(path / names.WEIGHTS_FILE, device="cpu"),
            optimizer=load_pt(names.OPTIMIZER_FILE),
            scheduler=load_pt(names.SCHEDULER_FILE),
            rng=load_pt(names.RNG_FILE),
            state=read_json(path / names.TRAINER_STATE_FILE),
            ema=load_file(path / names.EMA_FILE, device="cpu") if (path / names.EMA_FILE).is_file() else None,
        )
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"checkpoint {path} is unreadable ({exc}): delete it to resume from an earlier one"
        ) from None


# -- the encoder warm-up's checkpoints --------------------------------------------------------------------


@dataclass
class WarmupCheckpoint:
    """A saved encoder warm-up (``EncoderWarmup.state_dict``) and the process's RNG states."""

    path: Path
    tensors: dict[str, torch.Tensor]
    states: dict[str, Any]  # optimizer and schedule
    plain: dict[str, Any]
    rng: dict[str, torch.Tensor]

    @property
    def position(self) -> tuple[int, int]:
        return int(self.plain["epoch"]), int(self.plain["batch"])


def save_warmup_checkpoint(
    run: Path, tensors: dict[str, torch.Tensor], states: dict[str, Any], plain: dict[str, Any]
) -> Path:
    """Write the warm-up's state atomically as ``checkpoints/warmup-EPOCH-BATCH``; drop older ones."""
    rng_tensors, rng_plain = capture_rng()

    def fill(tmp: Path) -> None:
        save_file(
            {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, tmp / names.WARMUP_HEAD_FILE
        )
        torch.save(states, tmp / names.OPTIMIZER_FILE)
        torch.save(rng_tensors, tmp / names.RNG_FILE)
        # trainer_state.json last: its presence marks a complete checkpoint.
        write_json_atomically(tmp / names.TRAINER_STATE_FILE, {**plain, "rng": rng_plain})

    root = run / names.CHECKPOINTS_DIR
    root.mkdir(exist_ok=True)
    path = write_dir(root / names.warmup_checkpoint_name(plain["epoch"], plain["batch"]), fill)
    for old in list_warmup_checkpoints(run)[:-1]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def list_warmup_checkpoints(run: Path) -> list[Path]:
    """Complete warm-up checkpoint dirs of ``run``, oldest first."""
    root = Path(run) / names.CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [
        (position, p)
        for p in root.iterdir()
        if (position := names.warmup_checkpoint_position(p)) is not None
        and (p / names.TRAINER_STATE_FILE).is_file()
    ]
    return [p for _, p in sorted(found)]


def remove_warmup_checkpoints(run: Path) -> None:
    """Drop the warm-up's checkpoints (once fine-tuning has one of its own, they are never read again)."""
    for path in list_warmup_checkpoints(run):
        shutil.rmtree(path, ignore_errors=True)


def load_warmup_checkpoint(path: Path) -> WarmupCheckpoint:
    """Read a warm-up checkpoint back; tensors only, never pickled objects (``weights_only=True``)."""
    try:
        return WarmupCheckpoint(
            path=path,
            tensors=load_file(path / names.WARMUP_HEAD_FILE, device="cpu"),
            states=torch.load(path / names.OPTIMIZER_FILE, map_location="cpu", weights_only=True),
            plain=read_json(path / names.TRAINER_STATE_FILE),
            rng=torch.load(path / names.RNG_FILE, map_location="cpu", weights_only=True),
        )
    except (OSError, RuntimeError) as exc:
        raise UserError(
            f"checkpoint {path} is unreadable ({exc}): delete it to start the warm-up again"
        ) from None


def run_record(cfg: TrainConfig) -> dict[str, Any]:
    """RUN/config.json: the resolved config, the command and the versions that ran it."""
    versions = {"python": platform.python_version()}
    for package in ("phi3v-catalogue", "torch", "transformers", "peft", "tokenizers", "safetensors"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"train": cfg.to_dict(), "command": sys.argv, "versions": versions}
