"""Which value a run trains with, decided in one place: ``decide``.

A new run takes TrainConfig's defaults, then its recipe's values, then the flags the user gave. A flag counts
as given because the user gave it (the command line asks click where each value came from), never because
its value differs from the recipe's: ``--lr 1e-3`` with a recipe that says 1e-3 is given, and on ``--resume``
it must agree with the run's own value.

``--resume`` continues the run with its own saved settings (RUN/config.json): a given flag that would change
what the run computes is refused, with the run's value beside it, because the resumed run would no longer
end where the uninterrupted one ends. Flags that change nothing computed (``RESUMABLE_CHANGES``) may differ.
A recipe given with ``--resume`` counts as giving each of its fields.

The resolved config is what RUN/config.json and RUN/recipe.yaml record; ``--recipe RUN/recipe.yaml`` trains
the same way again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from contracts.errors import UserError
from finetune.config import DEFAULT_RECIPE, TrainConfig, resolve
from finetune.recipe import read_recipe, recipe_path

FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))

# Fields that may differ between a run and its --resume: they do not change what is computed.
RESUMABLE_CHANGES = frozenset(
    {
        "data",  # the dataset's fingerprint is checked instead
        "out",  # a RUN dir may move
        "recipe",  # a given recipe's fields are compared one by one
        "resume",
        "overwrite",
        "quiet",
        "threads",
        "wandb",
        "wandb_project",
        "stop_after",
        "pixel_memory_gib",  # where the pixels are made changes no result
    }
)

# The fields --fit-memory chooses. On --resume of a run that chose them, flags asking for the same examples
# per step agree with its choice: the first invocation's flags (--batch-size 8, split as 4 x 2) resume it.
FITTED_FIELDS = frozenset({"batch_size", "grad_accum", "gradient_checkpointing"})

# What a run saved before a field existed ran with: resuming it keeps that, not today's default.
ABSENT_IN_OLDER_RUNS: dict[str, Any] = {
    "ema": 0.0,
    "fit_memory": False,
    "eval_rows": 0,
    "best_metric": "val_loss",
}
# Fields older runs saved that this version no longer has, with the value under which nothing is lost.
REMOVED_FIELDS: dict[str, Any] = {"shift": 0.0, "token_noise": 0.0}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _config(values: Mapping[str, Any], recipe: str) -> TrainConfig:
    try:
        return TrainConfig(**{**values, "recipe": recipe})
    except TypeError as exc:  # a recipe value of the wrong kind (a list for a number, ...)
        raise UserError(f"recipe {recipe}: {exc}") from None


def _asked(flags: Mapping[str, Any], typed: Collection[str], recipe: str) -> TrainConfig:
    """What one invocation asks for: TrainConfig's defaults < the recipe's values < the given flags."""
    return _config(
        {**(read_recipe(recipe) if recipe else {}), **{name: flags[name] for name in typed}}, recipe
    )


def decide(
    flags: Mapping[str, Any],
    *,
    recipe: str = "",
    given: Collection[str] | None = None,
    saved: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The resolved config of a run: TrainConfig's defaults < ``recipe``'s values < the given ``flags``; with
    ``saved`` (a resumed run's RUN/config.json ``train`` record), the run's own values, which a given flag may
    only repeat.

    Args:
        flags: values by field name; only the ``given`` ones are read.
        recipe: a recipe name or file ('' for none: TrainConfig's defaults).
        given: the fields the user gave (the command line knows); None, for a library call with a whole
            config: the fields whose value is not the recipe's (or TrainConfig's default).
        saved: the run being resumed, or None for a new run.

    Raises:
        UserError: a bad recipe or value; on resume, given flags that differ from the run's settings (all
            named in one line, each with the run's value), or a run that used a setting this version lacks.
    """
    if given is None:  # a library call says no more than its values: those that are not the recipe's
        where = {"data", "out"} & set(flags)  # no recipe sets them: always the caller's
        baseline = _asked(flags, where, recipe)
        typed = where | {n for n in flags if n not in FIELDS or flags[n] != getattr(baseline, n)}
    else:
        typed = {name for name in given if name in flags}
    asked = _asked(flags, typed, recipe)
    if saved is None:
        return resolve(asked)

    lost = [k for k, off in REMOVED_FIELDS.items() if saved.get(k, off) != off]
    if lost:
        raise UserError(
            f"the run in --out used {_flag(lost[0])}, which this version no longer has: it cannot be "
            "resumed exactly; start a new run with --overwrite"
        )
    run = {**ABSENT_IN_OLDER_RUNS, **{k: v for k, v in saved.items() if k in FIELDS}}
    run = {name: run.get(name, getattr(asked, name)) for name in FIELDS}  # (every field is saved today)
    run |= {name: getattr(asked, name) for name in RESUMABLE_CHANGES}  # this invocation's, given or not
    if "recipe" in typed and recipe:  # a recipe given again: each of its fields is asked for
        typed |= set(read_recipe(recipe))
    wanted = {name: getattr(asked, name) for name in FIELDS if name in typed - RESUMABLE_CHANGES}
    # the given values on top of the run's, resolved together (LoRA alpha, a frozen encoder follow from them)
    merged = resolve(_config({**run, **wanted}, recipe))
    # a run whose memory fit split its examples per step: flags asking for as many per step agree with it
    fitted = (
        run["fit_memory"] and asked.batch_size * asked.grad_accum == run["batch_size"] * run["grad_accum"]
    )
    conflicts = [
        f"{_flag(name)} {value!r} (the run used {run[name]!r})"
        for name, value in wanted.items()
        if getattr(merged, name) != run[name] and not (fitted and name in FITTED_FIELDS)
    ]
    if conflicts:
        raise UserError(
            "--resume continues the run with its own settings, but these flags differ: "
            f"{'; '.join(conflicts)}: drop them, or start a new run with --overwrite"
        )
    return resolve(_config(run, recipe))


def from_recipe(spec: str = DEFAULT_RECIPE, **flags: Any) -> TrainConfig:
    """A new run's config as asked for: TrainConfig's defaults, then the recipe's values, then ``flags``
    (what ``decide`` starts from, before ``resolve`` fills what follows from the method).

    Raises:
        UserError: a bad recipe, or a value ``TrainConfig`` refuses.
    """
    recipe = str(recipe_path(spec)) if "/" in spec or spec.endswith((".yaml", ".yml")) else spec
    return _asked(flags, flags, recipe)
