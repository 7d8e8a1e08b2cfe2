"""`evaluate compare`: columns from metrics.json files, best per metric, deltas to the reference."""

from __future__ import annotations

import json

import pytest

from contracts.errors import UserError
from evaluation.compare import compare, comparison_rows, load_evaluation
from evaluation.config import CompareConfig


def _metric(value, higher=True):
    return {"value": value, "ci95": [value * 0.9, value * 1.1] if value is not None else None,
            "higher_is_better": higher}  # fmt: skip


def _write(dir_, name, accuracy, mape, fingerprint="abc", baselines=None):
    dir_.mkdir(parents=True)
    doc = {
        "model": {"name": name, "kind": "model"},
        "dataset": {"fingerprint": fingerprint, "path": "/data"},
        "split": "test",
        "n": 10,
        "metrics": {"category_accuracy": _metric(accuracy), "price_mape": _metric(mape, higher=False)},
        "baselines": baselines or {},
    }
    (dir_ / "metrics.json").write_text(json.dumps(doc))
    return dir_


def test_best_and_deltas(tmp_path):
    """Higher accuracy and lower MAPE are best; deltas are to the first input, coloured by direction."""
    # Setup
    a = _write(tmp_path / "a", "run-a", 0.5, 0.30, baselines={"majority": {"metrics": {
        "category_accuracy": _metric(0.2), "price_mape": _metric(0.9, higher=False)}}})  # fmt: skip
    b = _write(tmp_path / "b", "run-b", 0.7, 0.40)
    # Run
    result = compare(
        CompareConfig(inputs=(str(a), str(b / "metrics.json")), report=str(tmp_path / "cmp.html"))
    )
    # Assert
    ctx = result.context
    assert [s["name"] for s in ctx["systems"]] == ["run-a", "run-b", "majority"]
    rows = {r["name"]: r for g in ctx["metric_groups"] for r in g["rows"]}
    acc, mape = rows["category_accuracy"]["cells"], rows["price_mape"]["cells"]
    assert [c["best"] for c in acc] == [False, True, False]
    assert [c["best"] for c in mape] == [True, False, False]
    assert acc[1]["delta"] == pytest.approx(0.2) and acc[1]["delta_good"] is True
    assert mape[1]["delta"] == pytest.approx(0.1) and mape[1]["delta_good"] is False
    assert acc[0]["delta"] is None
    assert rows["title_exact_match"]["cells"][0]["value"] is None  # metric absent from these files: a dash
    assert ctx["warnings"] == []
    assert (tmp_path / "cmp.html").is_file()


def test_warns_on_different_datasets(tmp_path):
    """Evaluations of different datasets are compared, with a warning."""
    a = _write(tmp_path / "a", "same", 0.5, 0.3, fingerprint="aaa")
    b = _write(tmp_path / "b", "same", 0.6, 0.3, fingerprint="bbb")
    ctx = compare(CompareConfig(inputs=(str(a), str(b)), baselines=False)).context
    assert len(ctx["warnings"]) == 1 and "another dataset" in ctx["warnings"][0]
    assert [s["name"] for s in ctx["systems"]] == ["same (a)", "same (b)"]


def test_missing_or_foreign_metrics_json(tmp_path):
    """A dir without metrics.json, or a JSON of another shape, is a user error."""
    with pytest.raises(UserError, match="no metrics.json"):
        load_evaluation(tmp_path)
    (tmp_path / "metrics.json").write_text('{"hello": 1}')
    with pytest.raises(UserError, match="not an evaluate metrics.json"):
        load_evaluation(tmp_path)


def test_comparison_rows_tie_marks_all_best(tmp_path):
    """Equal values are all best."""
    a = _write(tmp_path / "a", "a", 0.5, 0.3)
    b = _write(tmp_path / "b", "b", 0.5, 0.3)
    from evaluation.compare import collect

    evaluations, _ = collect([str(a), str(b)], False)
    (row,) = comparison_rows(evaluations, ["category_accuracy"])
    assert [c["best"] for c in row["cells"]] == [True, True]
