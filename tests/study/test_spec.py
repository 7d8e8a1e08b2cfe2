"""A study file: parsed strictly, every error naming the place in the file; the grid expands as written."""

from __future__ import annotations

import pytest
import yaml

from contracts.errors import UserError
from study.spec import cells, load_study, share


def _write(tmp_path, doc, name="s.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


BASE = {
    "title": "t",
    "test": {"synth": {"rows": 60, "seed": 100}},
    "train": [
        {"name": "a", "synth": {"rows": 40, "seed": 1}},
        {"name": "b", "synth": {"rows": 80, "seed": 2}},
    ],
    "recipes": ["tiny-cpu", {"name": "short", "recipe": "tiny-cpu", "set": {"epochs": 1}}],
    "seeds": [0, 1, 2],
}


def test_the_grid_is_train_sets_by_recipes_by_seeds_in_file_order(tmp_path):
    study = load_study(_write(tmp_path, BASE))
    grid = cells(study)
    assert [c.id for c in grid[:4]] == [
        "a--tiny-cpu--seed0", "a--tiny-cpu--seed1", "a--tiny-cpu--seed2", "a--short--seed0",
    ]  # fmt: skip
    assert len(grid) == 2 * 2 * 3 and len({c.definition for c in grid}) == 12
    assert {c.group for c in grid} == {"a/tiny-cpu", "a/short", "b/tiny-cpu", "b/short"}


def test_cell_shares_cover_the_grid_once(tmp_path):
    """--cell I/N for I = 1..N: disjoint shares whose union is the whole grid, for any N."""
    grid = cells(load_study(_write(tmp_path, BASE)))
    for n in (1, 2, 5, 12, 20):
        shares = [share(grid, f"{i}/{n}") for i in range(1, n + 1)]
        ids = [c.id for part in shares for c in part]
        assert sorted(ids) == sorted(c.id for c in grid) and len(ids) == len(set(ids))


def test_a_change_reaches_the_cells_that_depend_on_it(tmp_path):
    """A mix's cells change when a set it is made from changes; other cells keep their definition."""
    doc = {**BASE, "train": [*BASE["train"], {"name": "ab", "mix": ["a", "b"]}]}
    before = {c.id: c.definition for c in cells(load_study(_write(tmp_path, doc)))}
    doc["train"][0] = {"name": "a", "synth": {"rows": 41, "seed": 1}}
    after = {c.id: c.definition for c in cells(load_study(_write(tmp_path, doc)))}
    changed = {i for i in before if before[i] != after[i]}
    assert changed and all(i.startswith(("a--", "ab--")) for i in changed)
    assert all(before[i] == after[i] for i in before if i.startswith("b--"))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"colour": "red"}, "top level: unknown key 'colour'"),
        ({"train": [{"name": "a", "synth": {"rowz": 3}}]}, "train[0].synth: unknown key 'rowz'"),
        ({"train": [{"name": "a", "data": "missing-dir"}]}, "train[0].data: no such DATASET dir"),
        (
            {"train": [{"name": "a", "synth": {}}, {"name": "a", "synth": {}}]},
            "train[1].name: 'a' is used twice",
        ),
        ({"train": [{"name": "x/y", "synth": {}}]}, "train[0].name: 'x/y'"),
        ({"train": [{"name": "m", "mix": ["a", "q"]}]}, "train[0].mix: 'a' is no training set listed before"),
        ({"train": [{"name": "a", "synth": {}, "data": "."}]}, "train[0]: give exactly one of"),
        ({"recipes": ["no-such-recipe"]}, "recipes[0]: --recipe 'no-such-recipe': no such recipe"),
        ({"recipes": [{"recipe": "tiny-cpu", "set": {"lrr": 1}}]}, "recipes[0].set: unknown key 'lrr'"),
        ({"recipes": [{"recipe": "tiny-cpu", "set": {"lr": -1}}]}, "recipes[0]: --lr must be a positive"),
        ({"recipes": [{"recipe": "tiny-cpu", "set": {"seed": 3}}]}, "recipes[0].set.seed"),
        ({"seeds": [0, 0]}, "seeds: a seed is listed twice"),
        ({"seeds": [-1]}, "seeds[0]: expected a whole number"),
        ({"reference": "a/nope"}, "reference: 'a/nope' is no cell group"),
        ({"test": {"split": "test"}}, "test: give exactly one of synth:, data:"),
    ],
)
def test_bad_files_are_one_line_naming_the_place(tmp_path, change, needle):
    with pytest.raises(UserError) as info:
        load_study(_write(tmp_path, {**BASE, **change}))
    message = str(info.value)
    assert needle in message and "\n" not in message and str(tmp_path / "s.yaml") in message


def test_paths_in_the_file_are_relative_to_it(tmp_path, tiny_dataset):
    """`data:` names a DATASET dir relative to the study file, wherever the command runs."""
    doc = {**BASE, "train": [{"name": "mine", "data": tiny_dataset.name, "rows": 2}]}
    study = load_study(_write(tiny_dataset.parent, doc))
    assert study.train[0].source.path == str(tiny_dataset.resolve()) and study.train[0].source.rows == 2
    assert study.train[0].curve == "data"


@pytest.mark.parametrize("name", ["rows", "recipes", "transfer"])
def test_the_shipped_studies_parse(tmp_path, tiny_dataset, name):
    """studies/*.yaml are valid files; transfer.yaml finds the real DATASET at ../out/real beside it."""
    import shutil
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "studies" / f"{name}.yaml"
    (tmp_path / "studies").mkdir()
    (tmp_path / "out").mkdir()
    shutil.copytree(tiny_dataset, tmp_path / "out" / "real")
    study = load_study(shutil.copy(shipped, tmp_path / "studies"))
    grid = cells(study)
    assert grid and len(grid) == len(study.train) * len(study.recipes) * len(study.seeds)
    assert study.reference in {c.group for c in grid}


def test_seed_differences_follow_scipys_paired_t_test():
    """The mean difference, scipy's ttest_rel p and its t interval; identical values are no difference at
    all (p 1), a constant non-zero gap leaves t undefined."""
    import numpy as np
    from scipy import stats

    from study.verdicts import seed_differences

    a, b = [0.61, 0.64, 0.58], [0.10, 0.09, 0.12]
    out = seed_differences(a, b, higher_is_better=True)
    assert out["difference"] == pytest.approx(np.mean(np.subtract(a, b)))
    assert out["p_value"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    ci = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert out["ci95"] == pytest.approx([ci.low, ci.high])
    assert seed_differences([1.0, 1.0], [1.0, 1.0], True)["p_value"] == 1.0
    assert seed_differences([2.0, 3.0], [1.0, 2.0], True)["p_value"] is None
    assert seed_differences([0.5, None], [0.4, 0.3], True)["n"] == 1
