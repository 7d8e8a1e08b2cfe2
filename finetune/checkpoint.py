"""The RUN dir on disk: claiming it, atomic JSON and dir writes, and resumable checkpoints.

A checkpoint holds the trainable parameters (safetensors), the optimizer and scheduler state dicts
(``torch.save`` of tensors and plain values, read back with ``weights_only=True``), the RNG states and the
position in the data. Each one is written into a temporary sibling and renamed into place, so a crash leaves
the previous checkpoint intact and never half a new one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from datagen.errors import UserError
from finetune import run_layout as names


def claim_run_dir(out: str | Path, *, resume: bool, overwrite: bool) -> tuple[Path, dict[str, Any] | None]:
    """Make ``out`` ready for a run; return it (absolute) and, for ``resume``, the saved config.

    Raises:
        UserError: ``out`` is a file; it holds something else than a run to resume; it holds a run and neither
            ``resume`` nor ``overwrite`` was given.
    """
    run = Path(out).expanduser().absolute()
    if run.exists() and not run.is_dir():
        raise UserError(f"--out {run} is a file, not a dir: choose another --out")
    occupied = run.is_dir() and any(run.iterdir())
    saved_path = run / names.CONFIG_FILE
    if resume:
        if not saved_path.is_file():
            raise UserError(
                f"--resume: {run} holds no run to continue (no {names.CONFIG_FILE}): drop --resume"
            )
        return run, read_json(saved_path)
    if occupied and not overwrite:
        what = "a run" if saved_path.is_file() else "other files"
        raise UserError(
            f"--out {run} already holds {what}: pass --resume to continue it, --overwrite to replace it, "
            "or choose another --out"
        )
    if occupied:
        shutil.rmtree(run)
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create --out {run}: {exc.strerror}; choose another --out") from None
    return run, None


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (temporary sibling, then rename)."""
    path = Path(path)
    tmp = path.with_name(f"{names.TMP_PREFIX}{path.name}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_dir(dest: str | Path, fill: Callable[[Path], None]) -> Path:
    """Create dir ``dest`` atomically: ``fill`` writes into a temporary sibling that then replaces it."""
    dest = Path(dest)
    tmp = dest.with_name(f"{names.TMP_PREFIX}{dest.name}")
    old = dest.with_name(f"{names.TMP_PREFIX}old-{dest.name}")
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # A dir cannot replace a non-empty dir: move the old one aside first; between the two renames a reader
    # finds the old copy under its aside name, never a mix.
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
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
        write_json(tmp / names.TRAINER_STATE_FILE, full_state)

    root = run / names.CHECKPOINTS_DIR
    root.mkdir(exist_ok=True)
    path = write_dir(root / names.checkpoint_name(step), fill)
    for old in list_checkpoints(run)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
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
