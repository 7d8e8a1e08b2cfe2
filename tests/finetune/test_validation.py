"""Validation answers: the task metrics as evaluate computes them, on a fixed subset of rows, and which
validation RUN/best keeps (--best-metric)."""

from __future__ import annotations

import json

import pytest

from contracts import run_layout as names
from contracts.dataset.reader import read_split
from contracts.metrics import METRICS_BY_NAME
from contracts.task import build_answer
from finetune.config import VAL_LOSS
from finetune.model_card import run_figures
from finetune.tracking import read_metrics
from finetune.validation import Best, answer, answering, higher_is_better, progress_text
from phi3v.loading import load_model

# a crafted history of validations: (step, loss, category accuracy, median price error)
HISTORY = [(2, 1.5, 0.25, None), (4, 1.2, 0.50, 0.40), (6, 1.3, 0.75, 0.30), (8, 1.1, 0.75, 0.35)]


def _kept(metric: str) -> int | None:
    best = Best(metric)
    for step, loss, accuracy, ape in HISTORY:
        value = {VAL_LOSS: loss, "category_accuracy": accuracy, "price_median_ape": ape}[metric]
        best.offer(step, value)
    return best.step


@pytest.mark.parametrize(
    ("metric", "step"),
    [
        (VAL_LOSS, 8),  # the lowest loss
        ("category_accuracy", 6),  # the highest accuracy; the tie at step 8 keeps the earlier
        ("price_median_ape", 6),  # the lowest error; step 2 (no price read) gives way to the first that did
    ],
)
def test_best_metric_keeps_the_right_validation(metric, step):
    assert _kept(metric) == step
    # the model card tells of the same validation, from metrics.jsonl's records
    records = [
        {"step": s, "split": "validation", "loss": loss, "category_accuracy": acc, "price_median_ape": ape}
        for s, loss, acc, ape in HISTORY
    ]
    assert run_figures(records, metric)["best_step"] == step


def test_directions_come_from_the_metric_definitions():
    assert higher_is_better(VAL_LOSS) is False
    for name, spec in METRICS_BY_NAME.items():
        assert higher_is_better(name) is spec.higher_is_better


def test_best_round_trips_through_a_checkpoint_state():
    best = Best("category_accuracy")
    best.offer(3, 0.5)
    again = Best.from_state("category_accuracy", {"best": best.state()})
    assert (again.value, again.step) == (0.5, 3)
    assert not again.offer(4, 0.5) and again.offer(5, 0.6)
    # a checkpoint written before --best-metric existed kept the lowest loss
    old = Best.from_state(VAL_LOSS, {"best_val_loss": 1.5, "best_step": 2})
    assert (old.value, old.step) == (1.5, 2)


def test_more_rows_than_the_split_answers_the_split_and_says_so(handmade_dataset, fast_config):
    _, processor = load_model("tiny", seed=0)
    val = read_split(handmade_dataset, "validation")
    train = read_split(handmade_dataset, "train")
    plan, line = answering(fast_config(eval_rows=len(val) + 5), val, train, processor)
    assert plan.scored == len(val) and len(plan.rows) == len(val)
    assert line.startswith(f"--eval-rows {len(val) + 5}: the validation split has {len(val)} rows")
    plan, line = answering(fast_config(eval_rows=2, sample_predictions=3), val, train, processor)
    assert (plan.scored, plan.samples, len(plan.rows), line) == (2, 3, 3, None)
    # a resumed run answers the rows it answered before, by file name
    again, _ = answering(fast_config(eval_rows=2), val, train, processor, files=plan.files[:2])
    assert again.files == plan.files[:2]
    assert answering(fast_config(eval_rows=0, sample_predictions=0), val, train, processor) == (None, None)


def test_answers_score_the_gold_answers_perfectly(handmade_dataset, fast_config, monkeypatch):
    """The gold answers as the model's texts: every task metric at its best, through the task's parser."""
    model, processor = load_model("tiny", seed=0)
    val = read_split(handmade_dataset, "validation")
    plan, _ = answering(fast_config(eval_rows=3), val, read_split(handmade_dataset, "train"), processor)
    gold = [build_answer(r.title, r.category3_code, r.full_price) for r in plan.rows.itertuples()]

    class Result:
        texts, seconds = gold, 0.1

    monkeypatch.setattr("finetune.validation.generate_answers", lambda *a, **k: Result)
    model.train()
    metrics = answer(model, processor, plan, threads=1).metrics
    assert model.training  # back in the mode it was in
    assert metrics["category_accuracy"] == 1.0 and metrics["parse_rate"] == 1.0
    assert metrics["title_token_sort_ratio_mean"] == 100.0 and metrics["price_median_ape"] == 0.0
    line = progress_text(0.5, metrics)
    assert line == "validation loss 0.5000, category 1.000, title 100.0, price error 0.0%, parsed 100%"


@pytest.mark.slow
def test_in_training_figures_equal_evaluates_on_the_same_rows_and_weights(fast_config, tmp_path):
    """The last validation's answers are those of the final weights: its metrics.jsonl record equals
    `evaluate --model RUN/model --split validation --limit N` (same rows, decoding, parser and metrics)."""
    from evaluation.config import EvalConfig
    from evaluation.run import evaluate
    from finetune.loop import train

    rows = 3
    result = train(fast_config(eval_rows=rows, eval_every=2, sample_predictions=2))
    last = [r for r in read_metrics(result.run_dir) if r["split"] == "validation"][-1]
    assert last["step"] == result.steps and last["answer_s"] > 0
    doc = evaluate(
        EvalConfig(
            model=str(result.run_dir / names.MODEL_DIR),
            data=fast_config().data,
            split="validation",
            limit=rows,
            report=str(tmp_path / "report" / "report.html"),
            bootstrap=0,
            wandb="off",
            quiet=True,
            threads=1,
        )
    ).document
    for name in METRICS_BY_NAME:
        assert last[name] == pytest.approx(doc["metrics"][name]["value"], abs=1e-9, nan_ok=True), name
    samples = [json.loads(line) for line in (result.run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 * 2  # two rows at each of the two validations
    assert result.final_metrics == {k: last[k] for k in result.final_metrics}
