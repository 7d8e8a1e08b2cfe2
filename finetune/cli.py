"""`finetune` command line. Thin: flags -> TrainConfig -> ``finetune.train`` -> a summary.

Every option is generated from a TrainConfig field (name, default, help, choices), so flags and fields cannot
drift apart. Booleans that default to off are plain flags (``--resume``); those whose default depends on the
model are ``--x/--no-x`` pairs (``--freeze-vision/--no-freeze-vision``).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

import click

from contracts.errors import run_cli
from finetune.config import TrainConfig

if TYPE_CHECKING:  # the loop imports torch: loaded only once the flags are known to be good
    from finetune.loop import TrainResult

_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}
_SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


def _option(field: dataclasses.Field) -> Any:
    flag = "--" + field.name.replace("_", "-")
    meta = field.metadata
    kind = str(field.type).replace(" | None", "")
    if kind == "bool" and field.default is None:
        return click.option(f"{flag}/--no-{flag[2:]}", default=None, help=meta["help"])
    if kind == "bool":
        return click.option(flag, is_flag=True, default=field.default, help=meta["help"])
    kwargs: dict[str, Any] = {"help": meta["help"], "default": field.default, "show_default": True}
    if meta.get("required"):
        kwargs.update(required=True, show_default=False)
        del kwargs["default"]  # click takes an explicit default, even None, as a given value
    if "choices" in meta:
        kwargs["type"] = click.Choice(meta["choices"])
    else:
        kwargs["type"] = _TYPES[kind]
    if field.default is None:
        kwargs["show_default"] = False
    metavar = {"data": "DIR", "out": "RUN", "model": "PRESET|PATH|HUB_ID"}.get(field.name)
    if metavar:
        kwargs["metavar"] = metavar
    return click.option(flag, **kwargs)


def _with_config_options(func: Any) -> Any:
    for field in reversed(dataclasses.fields(TrainConfig)):
        if field.name == "wandb":
            func = click.option("--no-wandb", "wandb", flag_value="off", help="same as --wandb off")(func)
        func = _option(field)(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@_with_config_options
def command(**values: Any) -> None:
    """Fine-tune Phi-3-Vision (GPU) or the tiny default (any CPU) on a DATASET dir; write a RUN dir.

    With no --model it trains the tiny preset from scratch (full fine-tuning); with a pretrained model the
    default is LoRA with the vision tower frozen. Several GPUs or nodes: launch with torchrun.
    Precedence: these defaults < the model's defaults < flags; with --resume, the run's saved settings.
    """
    cfg = TrainConfig(**values)
    from finetune.loop import train

    result = train(cfg)
    if not values["quiet"] or result.interrupted:  # how to continue is said even with --quiet
        click.echo(summary(result), err=True)
    if result.interrupted in _SIGNAL_EXIT:
        sys.exit(_SIGNAL_EXIT[result.interrupted])


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _loss(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary(result: TrainResult) -> str:
    """The end-of-run lines a user reads."""
    run = result.run_dir
    if result.stopped_in_warmup is not None:
        epoch, batch = result.stopped_in_warmup
        head = (
            f"stopped ({result.interrupted}) in the encoder warm-up at epoch {epoch + 1}, batch {batch + 1}; "
            f"checkpoint saved: continue with `finetune --data ... --out {run} --resume`"
        )
    elif result.interrupted:
        head = (
            f"stopped ({result.interrupted}) at step {result.steps}/{result.total_steps}; checkpoint saved: "
            f"continue with `finetune --data ... --out {run} --resume`"
        )
    else:
        head = f"finished {result.steps} steps ({result.epochs:g} epochs) in {_duration(result.wall_s)}"
    lines = [
        head,
        f"  throughput   {result.samples_per_s:.1f} samples/s, {result.tokens_per_s:,.0f} tokens/s "
        f"({_duration(result.train_s)} in optimizer steps"
        + (f", {result.cpu_threads} CPU threads)" if result.cpu_threads else ")"),
        f"  loss         train {_loss(result.train_loss)}, validation {_loss(result.final_val_loss)}, "
        f"best validation {_loss(result.best_val_loss)}"
        + (f" at step {result.best_step}" if result.best_step is not None else ""),
    ]
    if result.encoder_warmup_s is not None:
        warm = _duration(result.encoder_warmup_s)
        read = result.encoder_val_accuracy
        on_val = f"; it reads the validation category at {read:.2f}" if read is not None else ""
        lines.append(f"  encoder      warmed up on the answers in {warm} (part of the time){on_val}")
    if result.peak_memory_gb is not None:
        mfu = f", MFU {result.mfu:.1%}" if result.mfu is not None else ""
        lines.append(f"  GPU          peak memory {result.peak_memory_gb:.1f} GiB{mfu}")
    if not result.interrupted:
        lines.append(f"  written      {run}/model (final), {run}/best (lowest validation loss)")
    return "\n".join(lines)


def main() -> None:
    run_cli(command)


if __name__ == "__main__":
    main()
