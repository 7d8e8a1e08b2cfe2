"""What a validation measures besides the loss: the model's answers to the first validation rows, decoded and
scored exactly as ``evaluate`` does, and which validation RUN/best keeps (``--best-metric``).

The answers come from ``phi3v.generate.generate_answers`` with evaluate's settings for this run
(``Answering``: its batch size, the answer-token budget of the training answers, each image and its mirror
for a run trained with ``--mirror``); they are parsed by ``contracts.task.parse_answer`` and scored by
``contracts.metrics``, so the figures equal ``evaluate --model RUN --split validation --limit N`` on the
weights validated. The same answers fill the sample table (samples.jsonl and W&B): nothing is generated twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from contracts.dataset.reader import IMAGE_PATH, load_image
from contracts.metrics import METRICS_BY_NAME, compute_metrics, score_items
from contracts.task import answer_parts_of, answers_of, build_answer, parse_answer
from finetune.config import VAL_LOSS, TrainConfig
from finetune.tracking import Sample
from phi3v.generate import answer_token_budget, generate_answers

# evaluate's --batch-size default: answers decoded in batches of the same rows come out the same
ANSWER_BATCH_SIZE = 32
# the task metrics the progress line shows, with how it shows them
SHOWN: tuple[tuple[str, str, str], ...] = (
    ("category_accuracy", "category", "{:.3f}"),
    ("title_token_sort_ratio_mean", "title", "{:.1f}"),
    ("price_median_ape", "price error", "{:.1%}"),
    ("parse_rate", "parsed", "{:.0%}"),
)
THUMBNAIL = 256  # pixels: the side of the images in the sample table


@dataclass(frozen=True)
class Answering:
    """The validation rows the model answers at each validation, and how, fixed for the whole run.

    ``rows`` are the first rows of the validation split: the ``scored`` ones (``--eval-rows``) and, when
    ``--sample-predictions`` asks for more, the extra rows of the sample table.
    """

    rows: pd.DataFrame
    scored: int
    samples: int
    max_new_tokens: int
    mirror: bool
    batch_size: int = ANSWER_BATCH_SIZE

    @property
    def files(self) -> list[str]:
        return [str(f) for f in self.rows["file_name"]]


def answering(
    cfg: TrainConfig,
    validation: pd.DataFrame,
    train: pd.DataFrame,
    processor: Any,
    files: Sequence[str] | None = None,
) -> tuple[Answering | None, str | None]:
    """The rows and decoding of a run's validation answers, and a note when ``--eval-rows`` asks for more rows
    than the split has. None when neither ``--eval-rows`` nor ``--sample-predictions`` asks for answers.

    ``files``: the rows a resumed run answered (its checkpoint's), taken again by file name.
    """
    wanted = max(cfg.eval_rows, cfg.sample_predictions)
    if not wanted:
        return None, None
    note = None
    if cfg.eval_rows > len(validation):
        note = (
            f"--eval-rows {cfg.eval_rows}: the validation split has {len(validation)} rows; the model "
            "answers all of them at each validation"
        )
    if files is not None:
        by_name = validation.set_index(validation["file_name"].astype(str), drop=False)
        rows = by_name.loc[list(files)].reset_index(drop=True)
    else:
        rows = validation.head(wanted).reset_index(drop=True)
    return (
        Answering(
            rows=rows,
            scored=min(cfg.eval_rows, len(rows)),
            samples=min(cfg.sample_predictions, len(rows)),
            max_new_tokens=answer_token_budget(processor, answers_of(train)),  # evaluate's budget rule
            mirror=bool(cfg.mirror),  # evaluate --mirror auto: as the run was trained
        ),
        note,
    )


@dataclass
class Answers:
    """One validation's answers: texts in row order, their task metrics, and the seconds they took."""

    texts: list[str]
    metrics: dict[str, float | None]
    seconds: float


def answer(model: nn.Module, processor: Any, plan: Answering, threads: int) -> Answers:
    """The model's answers to ``plan``'s rows on ``threads`` CPU threads (the model goes back to the mode it
    was in) and the task metrics of the scored ones."""
    before, was_training = torch.get_num_threads(), model.training
    torch.set_num_threads(threads)
    model.eval()
    try:
        result = generate_answers(
            model,
            processor,
            list(plan.rows[IMAGE_PATH]),
            load_image=load_image,
            batch_size=plan.batch_size,
            max_new_tokens=plan.max_new_tokens,
            mirror=plan.mirror,
        )
    finally:
        model.train(was_training)
        torch.set_num_threads(before)
    scored = plan.rows.head(plan.scored)
    metrics = task_metrics(result.texts[: plan.scored], scored) if plan.scored else {}
    return Answers(result.texts, metrics, result.seconds)


def task_metrics(texts: Sequence[str], rows: pd.DataFrame) -> dict[str, float | None]:
    """Every task metric (``contracts.metrics.METRICS``) of ``texts`` answering ``rows``, as ``evaluate``
    computes it (without its bootstrap interval); None where undefined (no price read, say)."""
    golds = [
        {"title": part.title, "category3_code": part.category, "full_price": part.price}
        for part in answer_parts_of(rows)
    ]
    scores = score_items([parse_answer(t) for t in texts], golds)
    return {name: entry["value"] for name, entry in compute_metrics(scores, n_resamples=0).items()}


def samples(plan: Answering, texts: Sequence[str]) -> list[Sample]:
    """The sample table's rows: the first ``plan.samples`` rows with their answers and thumbnails."""
    out = []
    for (_, row), text in zip(plan.rows.head(plan.samples).iterrows(), texts, strict=False):
        thumb = load_image(row[IMAGE_PATH])
        thumb.thumbnail((THUMBNAIL, THUMBNAIL))
        target = build_answer(row["title"], row["category3_code"], row["full_price"])
        out.append(Sample(image=thumb, target=target, prediction=text, file_name=str(row["file_name"])))
    return out


def metrics_text(metrics: Mapping[str, float | None]) -> str:
    """The task metrics of validation answers in words ('' without any)."""
    parts = []
    for name, label, fmt in SHOWN:
        if name in metrics:
            value = metrics[name]
            parts.append(f"{label} {'n/a' if value is None else fmt.format(value)}")
    return ", ".join(parts)


def progress_text(loss: float, metrics: Mapping[str, float | None]) -> str:
    """The progress line of a validation: the loss, then the task metrics it measured."""
    return ", ".join(part for part in (f"validation loss {loss:.4f}", metrics_text(metrics)) if part)


# -- which validation RUN/best keeps ----------------------------------------------------------------------


def higher_is_better(metric: str) -> bool:
    """The direction of ``--best-metric``: the validation loss goes down, a task metric as its spec says."""
    return False if metric == VAL_LOSS else METRICS_BY_NAME[metric].higher_is_better


@dataclass
class Best:
    """The best validation so far by ``metric``: its value and step. A validation is kept when it is strictly
    better (the earlier one wins a tie); one without a value (no price read, say) only when none is kept."""

    metric: str
    value: float | None = None
    step: int | None = None

    def offer(self, step: int, value: float | None) -> bool:
        """Whether the validation at ``step`` measuring ``value`` is the new best (then it is recorded)."""
        if value is not None and not math.isfinite(value):
            value = None
        if self.step is None:
            better = True
        elif value is None:
            better = False
        elif self.value is None:
            better = True
        else:
            better = value > self.value if higher_is_better(self.metric) else value < self.value
        if better:
            self.value, self.step = value, step
        return better

    def state(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "step": self.step}

    @classmethod
    def from_state(cls, metric: str, state: Mapping[str, Any]) -> Best:
        """The best a checkpoint recorded (``state``: its trainer state). Checkpoints written before
        ``--best-metric`` existed hold the lowest validation loss."""
        saved = state.get("best")
        if saved is None:
            return cls(metric, state.get("best_val_loss"), state.get("best_step"))
        return cls(metric, saved.get("value"), saved.get("step"))
