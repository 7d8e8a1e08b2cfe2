"""Where training metrics go: RUN/metrics.jsonl always, Weights & Biases unless turned off.

W&B follows the policy of every command (``contracts.tracking``): offline files go under RUN/wandb. As in the
reference recipe, each validation also logs a table of sample predictions with their images; the same rows go
to RUN/samples.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts import run_layout as names
from contracts.outputs import temp_sibling

_RUN_ID_FILE = "run-id"
WARMUP_SPLIT = "encoder_warmup"  # the "split" of the warm-up's records in metrics.jsonl


@dataclass
class Sample:
    """One validation image with the answer the model generated for it."""

    image: Any  # PIL.Image.Image
    target: str
    prediction: str
    file_name: str = ""


def _clean(value: Any) -> Any:
    """JSON-safe value: floats that are not finite become None (metrics.jsonl is strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Tracker:
    """Writes metrics (on the main process only; the others get a no-op tracker)."""

    def __init__(
        self,
        run: Path,
        *,
        config: dict[str, Any],
        wandb_mode: str | None,
        project: str,
        active: bool = True,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """``wandb_mode``: online, offline or None (off). ``keep``: for a resumed run, which records of the
        interrupted one stay (those up to the checkpoint it goes on from); None: a new run, none stay."""
        self.run = Path(run)
        self.active = active
        self.metrics_path = self.run / names.METRICS_FILE
        self.samples_path = self.run / names.SAMPLES_FILE
        self._wandb = None
        if not active:
            return
        # A resumed run forgets what the interrupted one logged after its checkpoint, so the file reads as if
        # the run had never stopped.
        for path in (self.metrics_path, self.samples_path):
            keep_records(path, keep or (lambda record: False))
        if wandb_mode is not None:
            self._wandb = _start_wandb(self.run, config, wandb_mode, project, resume=keep is not None)

    def log(self, record: dict[str, Any]) -> None:
        """Append one record (it must have ``step`` and ``split``) and send it to W&B."""
        if not self.active:
            return
        record = {k: _clean(v) for k, v in record.items()}
        with self.metrics_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, allow_nan=False) + "\n")
        if self._wandb is not None:
            split = record.get("split", "train")
            payload = {
                f"{split}/{k}": v
                for k, v in record.items()
                if k not in ("step", "split") and isinstance(v, int | float) and v is not None
            }
            self._wandb.log(payload, step=int(record["step"]))

    def log_samples(self, step: int, samples: Sequence[Sample]) -> None:
        """Sample predictions: RUN/samples.jsonl and a W&B table with the images."""
        if not self.active or not samples:
            return
        with self.samples_path.open("a", encoding="utf-8") as fh:
            for s in samples:
                row = {"step": step, "file_name": s.file_name, "target": s.target, "prediction": s.prediction}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        if self._wandb is not None:
            import wandb

            table = wandb.Table(columns=["file_name", "image", "target", "prediction"])
            for s in samples:
                table.add_data(s.file_name, wandb.Image(s.image), s.target, s.prediction)
            self._wandb.log({"validation/samples": table}, step=step)

    def summarize(self, summary: dict[str, Any]) -> None:
        if self._wandb is not None:
            for key, value in summary.items():
                if isinstance(value, int | float | str) and value is not None:
                    self._wandb.summary[key] = value

    def finish(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def _start_wandb(run: Path, config: dict[str, Any], mode: str, project: str, *, resume: bool) -> Any:
    import wandb

    wandb_dir = run / names.WANDB_DIR
    wandb_dir.mkdir(exist_ok=True)
    id_file = wandb_dir / _RUN_ID_FILE
    if resume and id_file.is_file():
        run_id = id_file.read_text(encoding="utf-8").strip()
    else:
        run_id = secrets.token_hex(4)  # W&B run ids: 8 lowercase alphanumerics
        id_file.write_text(run_id + "\n", encoding="utf-8")
    return wandb.init(
        project=project,
        name=run.name,
        id=run_id,
        resume="allow",
        dir=str(wandb_dir),
        mode=mode,
        config=config,
        settings=wandb.Settings(silent=True, console="off"),
    )


def keep_records(path: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    """Keep only the records of ``path`` (JSONL) that ``keep`` accepts, byte for byte; unreadable
    (half-written) lines go."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and line.endswith("\n") and keep(record):
            kept.append(line)
    tmp = temp_sibling(path)
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, path)


def up_to_step(step: int) -> Callable[[dict[str, Any]], bool]:
    """``keep`` for a run resumed from optimizer step ``step``: its records up to that step (the encoder
    warm-up's, logged at step 0, included)."""
    return lambda record: float(record.get("step", math.inf)) <= step


def up_to_warmup_epoch(epoch: int) -> Callable[[dict[str, Any]], bool]:
    """``keep`` for a run resumed inside its encoder warm-up: the warm-up's records of epochs 1..``epoch``."""
    return lambda record: record.get("split") == WARMUP_SPLIT and int(record.get("epoch", math.inf)) <= epoch


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The records of RUN/metrics.jsonl, in order."""
    path = Path(run) / names.METRICS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
