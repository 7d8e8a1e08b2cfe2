"""Training setups as data: recipe files (YAML) that set ``TrainConfig`` fields, as torchtune and Axolotl do.

Precedence: ``TrainConfig``'s generic defaults < the recipe < explicit flags (``finetune.settings`` decides).
``--recipe`` names a file of ``finetune/recipes/`` (``tiny-cpu``, the default; ``phi3v-lora``;
``phi3v-qlora``; ``phi3v-full``) or any YAML file. A RUN dir holds the resolved recipe (``RUN/recipe.yaml``),
which trains the same way again: ``finetune --recipe RUN/recipe.yaml --data ... --out ...``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from contracts.errors import UserError
from finetune.config import TrainConfig

RECIPES_DIR = Path(__file__).parent / "recipes"
# Fields of one invocation rather than of a training setup: never read from or written to a recipe.
INVOCATION_FIELDS = frozenset({"data", "out", "recipe", "resume", "overwrite", "quiet", "stop_after"})
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in INVOCATION_FIELDS)


def recipe_names() -> list[str]:
    """The recipes shipped with the package, by name."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(spec: str) -> Path:
    """The file ``--recipe spec`` names: a shipped recipe by name, or a path.

    Raises:
        UserError: neither exists.
    """
    if "/" not in spec and not spec.endswith((".yaml", ".yml")):
        path = RECIPES_DIR / f"{spec}.yaml"
        if path.is_file():
            return path
        raise UserError(
            f"--recipe {spec!r}: no such recipe; choose one of {', '.join(recipe_names())} or a file"
        )
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(
            f"--recipe {spec}: no such file; give a recipe YAML file or one of {', '.join(recipe_names())}"
        )
    return path


def read_recipe(spec: str) -> dict[str, Any]:
    """The fields a recipe sets, checked to be ``TrainConfig`` fields of a training setup.

    Raises:
        UserError: the file is missing, not YAML, not a mapping, or sets an unknown or per-run field.
    """
    import yaml

    path = recipe_path(spec)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = " ".join(str(exc).split())
        raise UserError(f"cannot read recipe {path} ({reason}): fix the file") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(f"recipe {path} must map field names to values (e.g. `lr: 1.0e-3`)")
    unknown = sorted(set(values) - set(RECIPE_FIELDS))
    if unknown:
        per_run = [k for k in unknown if k in INVOCATION_FIELDS]
        what = "is given per run (a flag), not in a recipe" if per_run else "is no training field"
        raise UserError(f"recipe {path}: {unknown[0]!r} {what}; the fields are those of `finetune --help`")
    return values


def recipe_text(cfg: TrainConfig) -> str:
    """``cfg`` as a recipe file: every training field, resolved, in the order of ``TrainConfig``."""
    import yaml

    values = {name: getattr(cfg, name) for name in RECIPE_FIELDS}
    header = (
        f"# The resolved recipe of this run (from {cfg.recipe or 'the defaults'}, with its flags). Train the "
        "same way again:\n"
        "#   finetune --recipe THIS_FILE --data DATASET --out NEW_RUN\n"
    )
    return header + yaml.safe_dump(values, sort_keys=False, allow_unicode=True)
