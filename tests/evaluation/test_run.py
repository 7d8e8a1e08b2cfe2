"""`evaluate(cfg)` end to end on a small dataset: the three files, their shape, recomputability, escaping."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from contracts import run_layout
from contracts.errors import UserError
from contracts.metrics import METRICS
from evaluation.config import EvalConfig
from evaluation.run import evaluate


def _cfg(data, report=None, **kw):
    kw.setdefault("bootstrap", 200)
    kw.setdefault("wandb", "off")
    kw.setdefault("quiet", True)
    return EvalConfig(data=str(data) if data else None, report=str(report) if report else None, **kw)


@pytest.fixture(scope="module")
def nearest_report(eval_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    result = evaluate(_cfg(eval_dataset, out / "report.html", model="nearest", baselines="majority,probe"))
    return result, out


def test_report_files_written_side_by_side(nearest_report):
    """report.html, metrics.json and predictions.jsonl land in one dir, with no temporary files left."""
    result, out = nearest_report
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.jsonl", "report.html"]
    assert result.paths.report == out / "report.html"


def test_metrics_json_shape(nearest_report):
    """metrics.json (schema 2): every system under "systems" with its metrics; the first one's also at the top
    (model, metrics, per_category, confusion) and the other baselines under "baselines", as schema 1 had."""
    _, out = nearest_report
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["schema_version"] == 2
    assert doc["model"]["name"] == "nearest" and doc["split"] == "test" and doc["n"] == 12
    assert set(doc["metrics"]) == {m.name for m in METRICS}
    for metric in doc["metrics"].values():
        assert set(metric) == {"value", "ci95", "higher_is_better"}
    assert list(doc["baselines"]) == ["majority", "probe"]
    assert doc["dataset"]["fingerprint"] and doc["per_category"] and doc["confusion"]["matrix"]
    assert doc["config"]["model"] == ["nearest"]
    systems = doc["systems"]
    assert [s["name"] for s in systems] == ["nearest", "majority", "probe"]
    assert [s["kind"] for s in systems] == ["baseline"] * 3
    assert systems[0]["metrics"] == doc["metrics"] and systems[0]["per_category"] == doc["per_category"]
    assert systems[1]["metrics"] == doc["baselines"]["majority"]["metrics"]
    assert all(s["unanswered"] == 0 and s["answered"] == 12 and s["speed"]["seconds"] >= 0 for s in systems)


def test_predictions_rows(nearest_report):
    """Each prediction row carries identity and gold fields, and every system's raw answer, parsed and
    scored (every system answered every row)."""
    _, out = nearest_report
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    row = rows[0]
    assert {"index", "product_code", "file_name", "gold", "answers", "parsed", "scores"} <= set(row)
    assert "unanswered" not in row
    for part in ("answers", "parsed", "scores"):
        assert all(list(r[part]) == ["nearest", "majority", "probe"] for r in rows)
    assert row["parsed"]["majority"]["category3_code"] in row["answers"]["majority"]


@pytest.mark.slow
def test_from_predictions_recomputes_the_same_metrics(nearest_report, tmp_path):
    """Re-scoring predictions.jsonl without model or dataset reproduces metrics.json's numbers."""
    result, out = nearest_report
    again = evaluate(
        EvalConfig(
            from_predictions=str(out / "predictions.jsonl"),
            report=str(tmp_path / "r2"),
            bootstrap=200,
            wandb="off",
            quiet=True,
        )  # fmt: skip
    )
    assert again.document["metrics"] == result.document["metrics"]
    assert again.document["baselines"]["probe"]["metrics"] == result.document["baselines"]["probe"]["metrics"]
    assert (tmp_path / "r2" / "report.html").is_file()


def test_report_escapes_hostile_title_and_is_offline(nearest_report):
    """The dataset's <script> title shows as text; every src is a data: URI."""
    _, out = nearest_report
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert all(src.startswith("data:image/") for src in re.findall(r'src="([^"]*)"', page))


def test_oracle_skipped_without_latents(eval_dataset_no_latents):
    """Without latents.jsonl the oracle is skipped with a note; asked for as the model, it is an error."""
    result = evaluate(_cfg(eval_dataset_no_latents, model="majority", baselines="oracle"))
    assert "oracle" not in result.document["baselines"]
    assert any("oracle" in note for note in result.document["notes"])
    with pytest.raises(UserError, match="oracle"):
        evaluate(_cfg(eval_dataset_no_latents, model="oracle", baselines="none"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "nope", "model": "majority"}, "unknown split"),
        ({"model": "./no/such/run"}, "no such model dir"),
        ({"model": "no-such-preset"}, "no preset"),
        ({"checkpoint": "latest"}, "--checkpoint"),
    ],
)
def test_bad_input_is_a_user_error(eval_dataset, tmp_path, kwargs, match):
    """Bad splits, models and flags raise UserError naming the problem, and write nothing."""
    with pytest.raises(UserError, match=match):
        evaluate(_cfg(eval_dataset, tmp_path / "out" / "report.html", baselines="none", **kwargs))
    assert not (tmp_path / "out").exists()


def test_unwritable_report_path(eval_dataset, tmp_path):
    """A report path under a file is refused before any work is done."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="it is a file"):
        evaluate(_cfg(eval_dataset, tmp_path / "file" / "report.html", model="majority"))


@pytest.mark.slow
def test_tiny_model_end_to_end(eval_dataset, tmp_path):
    """The untrained tiny preset runs through the whole arrow; garbage answers are scored, not fatal."""
    result = evaluate(_cfg(eval_dataset, tmp_path / "r", model="tiny", baselines="majority", max_new_tokens=8,
                           limit=4))  # fmt: skip
    assert result.document["n"] == 4
    assert result.document["speed"]["samples_per_s"] > 0
    assert (tmp_path / "r" / "report.html").is_file()


@pytest.mark.slow
def test_compile_decodes_the_same_answers_or_says_why_not(eval_dataset, monkeypatch, fresh_dynamo):
    """--compile: the static cache and compiled decode steps (an eager backend here, for speed) give the plain
    path's answers; where torch.compile refuses, the plain path runs and one note says why."""
    import functools

    import torch

    from phi3v import generate

    def answers(**kw):
        torch.manual_seed(0)
        result = evaluate(_cfg(eval_dataset, model="tiny", baselines="none", max_new_tokens=8, limit=5,
                               batch_size=2, **kw))  # fmt: skip
        return [r["answers"]["tiny"] for r in result.rows], result.document

    plain, doc = answers()
    assert doc["speed"]["compiled"] is False and doc["notes"] == []
    eager = functools.partial(generate.compile_decoding, backend="eager")
    monkeypatch.setattr(generate, "compile_decoding", eager)
    compiled, doc = answers(compile=True)
    assert compiled == plain and doc["speed"]["compiled"] is True and doc["notes"] == []

    def refuse(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    refused, doc = answers(compile=True)
    assert refused == plain and doc["speed"]["compiled"] is False
    assert len(doc["notes"]) == 1 and "RuntimeError: torch.compile is not supported" in doc["notes"][0]


@pytest.fixture(scope="module")
def tiny_run_dir(eval_dataset, tmp_path_factory):
    """A RUN dir as finetune writes it: model/ and best/ (untrained tiny), config.json, dataset.json."""
    from contracts import run_layout
    from contracts.dataset.layout import dataset_fingerprint
    from phi3v.loading import load_model

    run = tmp_path_factory.mktemp("runs") / "tiny-run"
    model, processor = load_model("tiny")
    for sub in (run_layout.MODEL_DIR, run_layout.BEST_DIR):
        model.save_pretrained(run / sub)
        processor.save_pretrained(run / sub)
    (run / run_layout.CONFIG_FILE).write_text(json.dumps({"train": {"model": "tiny"}}))
    (run / run_layout.DATASET_FILE).write_text(json.dumps({"fingerprint": dataset_fingerprint(eval_dataset)}))
    return run


@pytest.mark.slow
@pytest.mark.parametrize("checkpoint", ["final", "best"])
def test_run_dir_as_model(eval_dataset, tiny_run_dir, checkpoint):
    """--model RUN loads RUN/model (or RUN/best) and records the run and its training fingerprint."""
    result = evaluate(_cfg(eval_dataset, model=str(tiny_run_dir), checkpoint=checkpoint, baselines="none",
                           max_new_tokens=4, limit=2))  # fmt: skip
    model = result.document["model"]
    assert model["run"] == str(tiny_run_dir) and model["name"] == "tiny-run"
    assert model["path"].endswith("model" if checkpoint == "final" else "best")
    assert model["train_fingerprint"] == result.document["dataset"]["fingerprint"]
    assert result.document["notes"] == []


def test_run_dir_without_best(tmp_path, eval_dataset):
    """--checkpoint best on a RUN without best/ is a user error naming the fix."""
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / run_layout.CONFIG_FILE).write_text('{"train": {}}')
    with pytest.raises(UserError, match="has no best/"):
        evaluate(_cfg(eval_dataset, model=str(tmp_path / "run"), checkpoint="best"))


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / run.name)


def test_unfinished_run_points_to_its_best_checkpoint(tmp_path, eval_dataset, tiny_run_dir):
    """A run stopped before its end (no model/) names --checkpoint best, which then loads RUN/best."""
    tiny_run_dir = _copy(tiny_run_dir, tmp_path)
    shutil.rmtree(tiny_run_dir / run_layout.MODEL_DIR)
    with pytest.raises(UserError, match="has not finished.*--checkpoint best"):
        evaluate(_cfg(eval_dataset, model=str(tiny_run_dir)))
    result = evaluate(_cfg(eval_dataset, model=str(tiny_run_dir), checkpoint="best", baselines="none",
                           max_new_tokens=4, limit=2))  # fmt: skip
    assert result.document["model"]["path"].endswith("best")


@pytest.mark.parametrize(
    ("damage", "match"),
    [("config", "has no config.json"), ("truncate", "is damaged"), ("weights", "has no model.safetensors")],
)
def test_damaged_saved_model_is_one_line_before_any_build(
    tmp_path, eval_dataset, tiny_run_dir, damage, match
):
    """A RUN whose model lacks config.json, or whose weights are missing or cut short, is one clear error
    (no full-size model is built from defaults, no SafetensorError traceback)."""
    tiny_run_dir = _copy(tiny_run_dir, tmp_path)
    model = tiny_run_dir / run_layout.MODEL_DIR
    weights = model / "model.safetensors"
    if damage == "config":
        (model / "config.json").unlink()
    elif damage == "weights":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(UserError, match=match):
        evaluate(_cfg(eval_dataset, model=str(tiny_run_dir), baselines="none"))
