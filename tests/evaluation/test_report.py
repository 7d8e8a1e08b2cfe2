"""The report's context: the oracle as the ceiling, the leaderboard beside the metrics, sample captions,
the note on the source's own "N.A." label."""

from __future__ import annotations

import pytest

from contracts.task import build_answer
from evaluation.report import build_report_context, gallery_item, metric_row
from evaluation.scoring import make_prediction_rows, score_system, system_view
from reports import render_report

CATS = ["N.A.", "TRENCH COATS", "SCARVES"]


def _doc_and_rows(n: int = 30, categories=CATS) -> tuple[dict, list[dict]]:
    """A metrics document and prediction rows as evaluate writes them: a model, majority, probe, oracle."""
    records = [{"product_code": 50000000 + i, "file_name": f"{50000000 + i}.jpg", "image_path": "",
                "title": f"Check Wool Scarf {i % 3}", "category3_code": categories[i % len(categories)],
                "full_price": 100.0 + i} for i in range(n)]  # fmt: skip

    def answer(r, ok):
        return build_answer(r["title"], r["category3_code"], r["full_price"]) if ok else build_answer(
            "Other", "WRONG", r["full_price"] * 2)  # fmt: skip

    raw = [answer(r, i % 3 != 0) for i, r in enumerate(records)]
    baselines = {
        "majority": [build_answer("Check Wool Scarf 0", categories[0], 120.0)] * n,
        "probe": [answer(r, i % 2 == 0) for i, r in enumerate(records)],
        "oracle": [answer(r, True) for r in records],
    }
    answers = {"run": raw, **baselines}
    rows = make_prediction_rows(records, answers)
    kinds = {"run": ("model", "out/run"), **{b: ("baseline", b) for b in baselines}}
    entries = [
        {
            "name": n,
            "kind": kinds[n][0],
            "spec": kinds[n][1],
            **score_system(rows, n, n_resamples=200, seed=3),
        }
        for n in answers
    ]
    first = entries[0]
    doc = {
        "schema_version": 2,
        "model": {"name": "run", "kind": "model", "spec": "out/run"},
        "dataset": {"path": "/data", "fingerprint": "abc"},
        "split": "test",
        "n": n,
        **{k: first[k] for k in ("metrics", "per_category", "confusion")},
        "baselines": {e["name"]: {"metrics": e["metrics"]} for e in entries[1:]},
        "systems": entries,
        "bootstrap": {"n_resamples": 200, "seed": 3},
        "notes": [],
    }
    return doc, rows


def test_the_oracle_is_the_ceiling_and_never_best():
    """The oracle is tagged ceiling, not baseline; the best mark goes to the best of the others."""
    doc, rows = _doc_and_rows()
    ctx = build_report_context(doc, rows, images=False)
    assert [(s["name"], s["kind"]) for s in ctx["systems"]] == [
        ("run", "model"), ("majority", "baseline"), ("probe", "baseline"), ("oracle", "ceiling")
    ]  # fmt: skip
    acc = next(r for r in ctx["headline"] if r["name"] == "category_accuracy")
    assert [c["best"] for c in acc["cells"]] == [True, False, False, False]  # the oracle's 100% is not "best"
    board = ctx["board"]
    assert [(r["rank_label"], r["name"]) for r in board["leaderboard"]] == [
        ("ceiling", "oracle"), ("1", "run"), ("2", "probe"), ("3", "majority")
    ]  # fmt: skip
    assert board["reference"] == "run" and [o["name"] for o in board["others"]] == [
        "oracle",
        "probe",
        "majority",
    ]
    page = render_report(ctx)
    assert 'id="leaderboard"' in page and 'id="differences"' in page


def test_report_leaderboard_intervals_are_those_of_metrics_json():
    """The leaderboard resamples as the metrics did (same count, same seed): the same intervals."""
    doc, rows = _doc_and_rows()
    comparison = build_report_context(doc, rows, images=False)["comparison"]
    by_name = {r["name"]: r["metrics"] for r in comparison["leaderboard"]}
    for name, metric in doc["metrics"].items():
        assert by_name["run"][name]["value"] == metric["value"], name
        assert by_name["run"][name]["ci95"] == pytest.approx(metric["ci95"], rel=1e-9, abs=1e-12), name
    for baseline, entry in doc["baselines"].items():
        for name, metric in entry["metrics"].items():
            assert by_name[baseline][name]["value"] == metric["value"], (baseline, name)


def test_metric_row_marks_the_best_contender_only():
    values = [{"value": 0.5}, {"value": 0.7}, {"value": 1.0}]
    assert [c["best"] for c in metric_row("category_accuracy", values)["cells"]] == [False, False, True]
    row = metric_row("category_accuracy", values, contenders=[True, True, False])
    assert [c["best"] for c in row["cells"]] == [False, True, False]


def test_sample_cards_name_the_product_once():
    """A card shows the product code once, the file name only when it says something else."""
    doc, rows = _doc_and_rows(3)
    row = system_view(rows[0], "run")
    assert gallery_item(row, images=False)["caption"] == "50000000"
    other = {**row, "file_name": "images/front.jpg"}
    assert gallery_item(other, images=False)["caption"] == "50000000 · images/front.jpg"


def test_the_source_label_is_kept_and_explained_once():
    """A literal "N.A." category keeps its spelling and gets one note; a catalogue without it gets none."""
    doc, rows = _doc_and_rows()
    ctx = build_report_context(doc, rows, images=False)
    assert "N.A." in [r["category"] for r in ctx["per_category"]["rows"]]
    assert "source data itself" in ctx["per_category"]["source_note"]
    page = render_report(ctx)
    assert page.count("is a category3_code of the source data itself") == 1
    doc, rows = _doc_and_rows(categories=["TRENCH COATS", "SCARVES"])
    assert build_report_context(doc, rows, images=False)["per_category"]["source_note"] is None


def test_a_report_without_baselines_has_no_leaderboard():
    doc, rows = _doc_and_rows()
    doc["baselines"], doc["systems"] = {}, doc["systems"][:1]
    rows = [{**row, "answers": {"run": row["answers"]["run"]}} for row in rows]
    ctx = build_report_context(doc, rows, images=False)
    assert ctx["board"] is None and ctx["comparison"] is None
    assert 'id="leaderboard"' not in render_report(ctx)
