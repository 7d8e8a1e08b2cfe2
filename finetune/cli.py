"""`finetune` command line. Thin: flags -> a recipe's TrainConfig -> ``finetune.train`` -> a summary.

Every option is generated from a TrainConfig field (name, help, choices), so flags and fields cannot drift
apart. A training field's flag has no default of its own: left out, the recipe's value (or TrainConfig's)
holds; the help shows the default recipe's value. Booleans of a training setup are ``--x/--no-x`` pairs, so
a flag can turn off what a recipe turns on.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from contracts.errors import UserError, run_cli
from finetune.config import DEFAULT_RECIPE, TrainConfig
from finetune.recipe import INVOCATION_FIELDS, from_recipe, read_recipe, recipe_names

if TYPE_CHECKING:  # the loop imports torch: loaded only once the flags are known to be good
    from finetune.loop import TrainResult

_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}
_SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
_METAVARS = {"data": "DIR", "out": "RUN", "model": "PRESET|PATH|HUB_ID", "recipe": "NAME|FILE"}


def _option(field: dataclasses.Field, default_recipe: dict[str, Any]) -> Any:
    flag = "--" + field.name.replace("_", "-")
    meta = field.metadata
    kind = str(field.type).replace(" | None", "")
    kwargs: dict[str, Any] = {"help": meta["help"], "metavar": _METAVARS.get(field.name)}
    if field.name not in INVOCATION_FIELDS:
        value = default_recipe.get(field.name, field.default)
        if value is not None:
            # one bracket: the default recipe's value replaces the field's own default, when it has one
            kwargs["help"] = re.sub(r" \[[^\]]*\]$", "", kwargs["help"])
            kwargs["help"] += f" [{DEFAULT_RECIPE}: {str(value).lower() if kind == 'bool' else value}]"
        kwargs["default"] = None  # left out: the recipe's value
        if kind == "bool":
            return click.option(f"{flag}/--no-{flag[2:]}", **kwargs)
    elif kind == "bool":
        return click.option(flag, is_flag=True, default=field.default, help=meta["help"])
    elif meta.get("required"):
        kwargs["required"] = True  # no default: click takes an explicit None as a given value
    elif field.name == "recipe":
        kwargs.update(default=DEFAULT_RECIPE, show_default=True, help=meta["help"].split(" [")[0])
    else:
        kwargs.update(default=field.default, show_default=True)
    kwargs["type"] = click.Choice(meta["choices"]) if "choices" in meta else _TYPES[kind]
    return click.option(flag, **kwargs)


def _with_config_options(func: Any) -> Any:
    try:
        default_recipe = read_recipe(DEFAULT_RECIPE)
    except UserError:  # a broken installation: the help still lists every flag
        default_recipe = {}
    for field in reversed(dataclasses.fields(TrainConfig)):
        if field.name == "wandb":
            func = click.option("--no-wandb", "wandb", flag_value="off", help="same as --wandb off")(func)
        func = _option(field, default_recipe)(func)
    return func


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@_with_config_options
def command(**values: Any) -> None:
    """Fine-tune Phi-3-Vision (GPU) or the tiny default (any CPU) on a DATASET dir; write a RUN dir.

    \b
    finetune --data DATASET --out RUN                            the tiny-cpu recipe, any CPU
    finetune --recipe phi3v-lora --data DATASET --out RUN        LoRA on the real model, one GPU
    torchrun --nproc-per-node 8 -m finetune.cli --recipe phi3v-full --data DATASET --out RUN

    A recipe (finetune/recipes/*.yaml, or a file of your own) sets the training fields below; every flag
    given overrides it. With --resume, the run's own saved settings hold, and a flag that differs from
    them is refused.
    """
    recipe = values.pop("recipe")
    given = {k: v for k, v in values.items() if v is not None}
    recipe_given = click.get_current_context().get_parameter_source("recipe") is not ParameterSource.DEFAULT
    if "model" in given and not recipe_given and not values["resume"]:
        default_model = read_recipe(DEFAULT_RECIPE).get("model")
        if given["model"] != default_model:
            raise UserError(
                f"--model {given['model']} needs a recipe made for it; the default {DEFAULT_RECIPE} trains "
                f"the {default_model} preset from scratch: add --recipe (one of {', '.join(recipe_names())}, "
                "or a YAML file)"
            )
    cfg = from_recipe(recipe, **given)
    from finetune.loop import train

    result = train(cfg)
    if not values["quiet"] or result.interrupted:  # how to continue is said even with --quiet
        click.echo(summary(result), err=True)
    if result.interrupted in _SIGNAL_EXIT:
        sys.exit(_SIGNAL_EXIT[result.interrupted])


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}" + ("" if n == 1 else "s")


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
        head = f"finished {_count(result.steps, 'step')} ({_count(result.epochs, 'epoch')}) in " + _duration(
            result.wall_s
        )
    lines = [head]
    if result.replacing and result.interrupted:
        lines.append(f"  kept         the run this one replaces stays in {run} until this one finishes")
    if result.steps or result.stopped_in_warmup is None:  # a stop in the warm-up has no steps to tell of
        lines += [
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
        mfu = (
            f", MFU {result.mfu:.1%} of the datasheet bf16 peak"
            if result.mfu is not None
            else ", MFU not reported (no datasheet peak for this GPU)"
        )
        lines.append(f"  GPU          peak memory {result.peak_memory_gb:.1f} GiB{mfu}")
    if not result.interrupted:
        lines.append(f"  written      {run}/model (final), {run}/best (lowest validation loss)")
    return "\n".join(lines)


def main() -> None:
    run_cli(command)


if __name__ == "__main__":
    main()
