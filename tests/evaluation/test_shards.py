"""evaluate under torchrun: two processes (gloo, CPU) write the same predictions as one process."""

from __future__ import annotations

import json

import pytest
import torch.multiprocessing as mp

from evaluation.config import EvalConfig
from evaluation.run import evaluate
from tests.processes import free_port, join_as


def _worker(rank: int, world: int, port: int, cfg: EvalConfig) -> None:
    join_as(rank, world, port)
    result = evaluate(cfg)
    assert (result is None) == (rank != 0)


def _run_dir(tmp_path, eval_dataset):
    from contracts import run_layout
    from phi3v.loading import load_model

    run = tmp_path / "run"
    model, processor = load_model("tiny", seed=3)
    model.save_pretrained(run / run_layout.MODEL_DIR)
    processor.save_pretrained(run / run_layout.MODEL_DIR)
    (run / run_layout.CONFIG_FILE).write_text(json.dumps({"train": {"model": "tiny"}}))
    return run


@pytest.mark.slow
def test_two_processes_write_the_predictions_of_one(eval_dataset, tmp_path):
    """Each process generates its share of the rows; the first writes the report: row for row the same
    predictions.jsonl (answers, parsed fields, scores) as a single process, and one report only."""
    run = _run_dir(tmp_path, eval_dataset)

    def cfg(out: str) -> EvalConfig:
        return EvalConfig(
            model=str(run),
            data=str(eval_dataset),
            report=str(tmp_path / out),
            baselines="majority",
            bootstrap=50,
            max_new_tokens=6,
            batch_size=3,
            threads=1,
            wandb="off",
            quiet=True,
        )

    one = evaluate(cfg("one"))
    assert one.document["speed"]["processes"] == 1
    mp.spawn(_worker, args=(2, free_port(), cfg("two")), nprocs=2, join=True)
    a = (tmp_path / "one" / "predictions.jsonl").read_text().splitlines()
    b = (tmp_path / "two" / "predictions.jsonl").read_text().splitlines()
    assert len(a) == one.document["n"] == 12 and a == b
    doc = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert doc["speed"]["processes"] == 2 and doc["metrics"] == one.document["metrics"]
