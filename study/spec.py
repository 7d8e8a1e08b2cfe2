"""A study file: a fixed test set, the training sets, the recipes, the seeds and the systems scored beside.

    title: How many rows does the default recipe need?
    test:                                # the fixed test set: one split of one DATASET
      synth: {rows: 3040, seed: 1000}    # made by `datagen synth` (or `data: DIR`, an existing DATASET)
      split: test                        # the default
    train:                               # each cell trains on one of these (train + validation splits)
      - name: rows-300
        synth: {rows: 300, seed: 0}
      - name: source
        data: ../out/real                # an existing DATASET dir (relative to this file)
        rows: 500                        # optional: a seeded sample of its train split
      - name: fitted
        synth: {rows: 3040, seed: 0, fit: source}   # from the profile `datagen fit` learns from `source`
      - name: source+fitted
        mix: [source, fitted]            # the union of both sets' train and validation splits
        curve: mixed                     # the learning-curve line it belongs to (default: its kind)
    recipes:
      - tiny-cpu                         # a recipe name or file ...
      - {name: short, recipe: tiny-cpu, set: {epochs: 3}}   # ... or one with fields set
    seeds: [0, 1, 2]                     # training seeds
    systems: [majority, probe, oracle]   # anything `evaluate --model` takes, scored once on the test set
    reference: rows-3040/tiny-cpu        # the cells every other group's paired verdicts compare with

The grid is training set x recipe x seed; ``cells`` expands it. Parsing refuses an unknown key, a missing
dataset, an unknown recipe or field, a name used twice, and names the place in the file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.errors import UserError

SYNTH_KEYS = ("rows", "seed", "image_size", "profile", "fit")
TOP_KEYS = ("title", "test", "train", "recipes", "seeds", "systems", "reference")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")  # a folder name inside the study's dir
TEST_NAME = "test"  # the test set's DATASET under OUT/data when the study makes it


@dataclass(frozen=True)
class Source:
    """How a DATASET is obtained: ``synth`` (arguments of `datagen synth`, ``fit`` naming a set or DATASET
    to learn a profile from), ``data`` (an existing DATASET dir, ``rows`` of its train split when given) or
    ``mix`` (the union of other sets)."""

    kind: str
    synth: tuple[tuple[str, Any], ...] = ()
    path: str | None = None
    rows: int | None = None
    seed: int = 0
    mix: tuple[str, ...] = ()

    def synth_args(self) -> dict[str, Any]:
        return dict(self.synth)

    def describe(self) -> dict[str, Any]:
        """Plain data for the study's record and the cells' definitions."""
        if self.kind == "synth":
            return {"synth": self.synth_args()}
        if self.kind == "data":
            return {"data": self.path, **({"rows": self.rows, "seed": self.seed} if self.rows else {})}
        return {"mix": list(self.mix)}


@dataclass(frozen=True)
class TrainSet:
    name: str
    source: Source
    curve: str  # the learning-curve line (data source) it belongs to


@dataclass(frozen=True)
class RecipeChoice:
    name: str  # how the report names it
    recipe: str  # a shipped recipe's name or a file
    fields: tuple[tuple[str, Any], ...] = ()  # TrainConfig fields set on top of the recipe

    def describe(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "set": dict(self.fields)}


@dataclass(frozen=True)
class Study:
    path: Path
    title: str
    test: Source
    test_split: str
    train: tuple[TrainSet, ...]
    recipes: tuple[RecipeChoice, ...]
    seeds: tuple[int, ...]
    systems: tuple[str, ...] = ()
    reference: str | None = None  # a group "SET/RECIPE"

    def train_set(self, name: str) -> TrainSet:
        return next(t for t in self.train if t.name == name)

    def describe(self) -> dict[str, Any]:
        """The whole study as plain data (what study.json records)."""
        return {
            "title": self.title,
            "test": {**self.test.describe(), "split": self.test_split},
            "train": {t.name: {**t.source.describe(), "curve": t.curve} for t in self.train},
            "recipes": {r.name: r.describe() for r in self.recipes},
            "seeds": list(self.seeds),
            "systems": list(self.systems),
            "reference": self.reference,
        }


@dataclass(frozen=True)
class Cell:
    """One training set x recipe x seed: a RUN dir and its REPORT on the test set."""

    train: TrainSet
    recipe: RecipeChoice
    seed: int
    definition: str = field(compare=False)  # hash of everything its numbers depend on

    @property
    def id(self) -> str:
        return f"{self.train.name}--{self.recipe.name}--seed{self.seed}"

    @property
    def group(self) -> str:
        return f"{self.train.name}/{self.recipe.name}"


def cells(study: Study) -> list[Cell]:
    """The grid, in the file's order: training sets, then recipes, then seeds."""
    out = []
    for train in study.train:
        for recipe in study.recipes:
            for seed in study.seeds:
                definition = {
                    "test": study.describe()["test"],
                    "train": _lineage(study, train),
                    "recipe": recipe.describe(),
                    "seed": seed,
                }
                digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]
                out.append(Cell(train, recipe, seed, digest))
    return out


def _lineage(study: Study, train: TrainSet) -> dict[str, Any]:
    """A set's definition with those of the sets it is made from, so a change to one reaches its mixes."""
    desc = train.source.describe()
    names = list(train.source.mix) + (
        [train.source.synth_args()["fit"]] if "fit" in desc.get("synth", {}) else []
    )
    known = {t.name for t in study.train}
    return {**desc, "from": {n: _lineage(study, study.train_set(n)) for n in names if n in known}}


def share(all_cells: list[Cell], spec: str | None) -> list[Cell]:
    """The cells of ``--cell I/N`` (1-based): every N-th cell from the I-th, so N jobs cover the grid once."""
    if spec is None:
        return list(all_cells)
    i, n = parse_share(spec)
    return all_cells[i - 1 :: n]


def parse_share(spec: str) -> tuple[int, int]:
    parts = str(spec).split("/")
    try:
        i, n = (int(p) for p in parts)
    except ValueError:
        raise UserError(f"--cell must look like I/N (e.g. 3/8), got {spec!r}") from None
    if n < 1 or not 1 <= i <= n:
        raise UserError(f"--cell I/N needs 1 <= I <= N, got {spec!r}")
    return i, n


# -- parsing --------------------------------------------------------------------------------------------


def load_study(path: str | Path) -> Study:
    """Read and check a study file.

    Raises:
        UserError: the file is unreadable or malformed; the message names the place in the file.
    """
    import yaml

    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"no such study file: {file}")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read study file {file}: {' '.join(str(exc).split())}") from None
    return parse_study(doc, file)


def parse_study(doc: Any, file: Path) -> Study:
    where = _Place(file)
    top = where.mapping(doc, "", TOP_KEYS, required=("test", "train", "recipes"))
    base = file.parent.absolute()
    test_doc = where.mapping(top["test"], "test", ("synth", "data", "split"))
    test = _source(where, test_doc, "test", base, kinds=("synth", "data"), names=())
    split = where.text(test_doc.get("split", "test"), "test.split")
    if test.kind == "synth" and "fit" in test.synth_args():
        raise where.error(
            "test.synth.fit",
            "a synthetic test set is drawn from the built-in catalogue or a "
            "profile file (profile:), not fitted here",
        )
    train_docs = where.sequence(top["train"], "train", min_len=1)
    train: list[TrainSet] = []
    for i, item in enumerate(train_docs):
        place = f"train[{i}]"
        entry = where.mapping(
            item, place, ("name", "synth", "data", "rows", "seed", "mix", "curve"), ("name",)
        )
        name = where.name(entry["name"], f"{place}.name")
        if any(t.name == name for t in train) or name == TEST_NAME:
            raise where.error(f"{place}.name", f"{name!r} is used twice (or is the reserved name 'test')")
        source = _source(where, entry, place, base, ("synth", "data", "mix"), tuple(t.name for t in train))
        curve = where.text(entry.get("curve", source.kind), f"{place}.curve")
        train.append(TrainSet(name, source, curve))
    recipes = _recipes(where, top["recipes"])
    seeds = tuple(
        where.whole(s, f"seeds[{i}]")
        for i, s in enumerate(where.sequence(top.get("seeds", [0]), "seeds", min_len=1))
    )
    if len(set(seeds)) != len(seeds):
        raise where.error("seeds", "a seed is listed twice")
    systems = tuple(
        where.text(s, f"systems[{i}]")
        for i, s in enumerate(where.sequence(top.get("systems", []), "systems"))
    )
    reference = top.get("reference")
    groups = [f"{t.name}/{r.name}" for t in train for r in recipes]
    if reference is not None and reference not in groups:
        raise where.error("reference", f"{reference!r} is no cell group; choose one of {', '.join(groups)}")
    title = where.text(top.get("title", file.stem), "title")
    return Study(file, title, test, split, tuple(train), recipes, seeds, systems, reference)


def _source(
    where: _Place, entry: dict, place: str, base: Path, kinds: tuple[str, ...], names: tuple[str, ...]
):
    given = [k for k in ("synth", "data", "mix") if k in entry]
    if len(given) != 1 or given[0] not in kinds:
        raise where.error(place, f"give exactly one of {', '.join(k + ':' for k in kinds)}")
    kind = given[0]
    if kind != "data" and ("rows" in entry or "seed" in entry):
        raise where.error(place, "rows: and seed: sample a data: set; a synth: set takes them inside synth:")
    if kind == "synth":
        args = where.mapping(entry["synth"], f"{place}.synth", SYNTH_KEYS)
        checked: dict[str, Any] = {}
        for key in ("rows", "seed", "image_size"):
            if key in args:
                checked[key] = where.whole(
                    args[key], f"{place}.synth.{key}", minimum=1 if key != "seed" else 0
                )
        if "profile" in args:
            checked["profile"] = str(
                _existing(where, args["profile"], f"{place}.synth.profile", base, file=True)
            )
        if "fit" in args:
            fit = where.text(args["fit"], f"{place}.synth.fit")
            checked["fit"] = fit if fit in names else str(_existing(where, fit, f"{place}.synth.fit", base))
        if "profile" in checked and "fit" in checked:
            raise where.error(f"{place}.synth", "give profile: or fit:, not both")
        return Source("synth", synth=tuple(sorted(checked.items())))
    if kind == "data":
        path = _existing(where, entry["data"], f"{place}.data", base)
        from contracts.dataset.reader import available_splits

        try:
            splits = available_splits(path)
        except UserError as exc:
            raise where.error(f"{place}.data", str(exc)) from None
        if not splits:
            raise where.error(f"{place}.data", f"{path} holds no DATASET splits (make it with datagen)")
        rows = where.whole(entry["rows"], f"{place}.rows", minimum=1) if "rows" in entry else None
        seed = where.whole(entry.get("seed", 0), f"{place}.seed")
        return Source("data", path=str(path), rows=rows, seed=seed)
    parts = where.sequence(entry["mix"], f"{place}.mix", min_len=2)
    mix = tuple(where.text(p, f"{place}.mix[{i}]") for i, p in enumerate(parts))
    unknown = [m for m in mix if m not in names]
    if unknown:
        raise where.error(f"{place}.mix", f"{unknown[0]!r} is no training set listed before this one")
    return Source("mix", mix=mix)


def _recipes(where: _Place, doc: Any) -> tuple[RecipeChoice, ...]:
    from finetune.recipe import RECIPE_FIELDS, from_recipe

    out: list[RecipeChoice] = []
    for i, item in enumerate(where.sequence(doc, "recipes", min_len=1)):
        place = f"recipes[{i}]"
        if isinstance(item, str):
            entry = {"recipe": item}
        else:
            entry = where.mapping(item, place, ("name", "recipe", "set"), ("recipe",))
        spec = where.text(entry["recipe"], f"{place}.recipe")
        fields = where.mapping(entry.get("set", {}), f"{place}.set", RECIPE_FIELDS)
        if "seed" in fields:
            raise where.error(f"{place}.set.seed", "seeds come from the study's seeds:, not a recipe")
        name = where.name(entry.get("name", Path(spec).stem), f"{place}.name")
        if any(r.name == name for r in out):
            raise where.error(f"{place}.name", f"{name!r} is used twice: give each recipe a name:")
        try:
            from_recipe(spec, data="-", out="-", **fields)  # an unknown recipe or a bad value, said now
        except UserError as exc:
            raise where.error(place, str(exc)) from None
        out.append(RecipeChoice(name, spec, tuple(sorted(fields.items()))))
    return tuple(out)


def _existing(where: _Place, value: Any, place: str, base: Path, file: bool = False) -> Path:
    path = Path(where.text(value, place)).expanduser()
    path = path if path.is_absolute() else base / path
    if not (path.is_file() if file else path.is_dir()):
        raise where.error(place, f"no such {'file' if file else 'DATASET dir'}: {path}")
    return path.resolve()


class _Place:
    """Checks of the file's values; every error names the file and the place in it."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def error(self, place: str, message: str) -> UserError:
        return UserError(f"study file {self.file}: {place or 'top level'}: {message}")

    def mapping(self, value: Any, place: str, keys: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.error(place, "expected a mapping of keys to values")
        unknown = [k for k in value if k not in keys]
        if unknown:
            raise self.error(place, f"unknown key {unknown[0]!r} (the keys are {', '.join(keys)})")
        missing = [k for k in required if k not in value]
        if missing:
            raise self.error(place, f"{missing[0]!r} is missing")
        return value

    def sequence(self, value: Any, place: str, min_len: int = 0) -> list:
        if not isinstance(value, list) or len(value) < min_len:
            raise self.error(place, f"expected a list of at least {min_len} item(s)")
        return value

    def text(self, value: Any, place: str) -> str:
        if not isinstance(value, str | int | float) or isinstance(value, bool) or str(value) == "":
            raise self.error(place, "expected a non-empty string")
        return str(value)

    def name(self, value: Any, place: str) -> str:
        text = self.text(value, place)
        if not NAME.match(text):
            raise self.error(place, f"{text!r}: use letters, digits and . _ + - (it names a folder)")
        return text

    def whole(self, value: Any, place: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(place, f"expected a whole number of at least {minimum}, got {value!r}")
        return value
