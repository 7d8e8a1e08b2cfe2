"""W&B logging: offline unless asked, nothing logged with --no-wandb, never a network call in tests."""

from __future__ import annotations

import pytest

from evaluation.config import EvalConfig
from evaluation.run import evaluate
from evaluation.tracking import flatten_metrics


def test_flatten_metrics():
    """Defined values and interval ends become flat W&B keys; None values are left out."""
    doc = {
        "metrics": {"a": {"value": 0.5, "ci95": [0.4, 0.6]}, "b": {"value": None, "ci95": None}},
        "baselines": {"majority": {"metrics": {"a": {"value": 0.1, "ci95": None}}}},
    }
    assert flatten_metrics(doc) == {"eval/a": 0.5, "eval/a_ci_lo": 0.4, "eval/a_ci_hi": 0.6,
                                    "baseline/majority/a": 0.1}  # fmt: skip


@pytest.mark.slow
def test_offline_run_logs_metrics_and_table(eval_dataset, tmp_path, monkeypatch):
    """An offline run writes a local W&B run dir beside the report (no network: WANDB_MODE=offline)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    result = evaluate(EvalConfig(data=str(eval_dataset), model="majority", baselines="none", bootstrap=50,
                                 report=str(tmp_path / "out"), quiet=True))  # fmt: skip
    assert result.wandb_dir is not None
    runs = list((tmp_path / "out" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
