"""Two CPU processes (gloo) train exactly like one process with the same global batch."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from contracts import run_layout as names
from finetune.loop import train
from finetune.tracking import read_metrics
from tests.processes import free_port, join_as


def _worker(rank: int, world: int, port: int, cfg) -> None:
    join_as(rank, world, port)
    train(cfg)


@pytest.mark.slow
def test_two_processes_match_one_with_the_same_global_batch(fast_config):
    """Losses (train and validation) and final weights agree: batch 4 in one process = 2 x batch 2."""
    one = train(fast_config("one", max_steps=3, eval_every=3, threads=1))
    two = fast_config("two", max_steps=3, eval_every=3, batch_size=2)
    mp.spawn(_worker, args=(2, free_port(), two), nprocs=2, join=True)

    a, b = read_metrics(one.run_dir), read_metrics(two.out)
    assert [(r["step"], r["split"]) for r in a] == [(r["step"], r["split"]) for r in b]
    torch.testing.assert_close([r["loss"] for r in a], [r["loss"] for r in b], rtol=1e-5, atol=1e-6)
    wa = load_file(one.run_dir / names.MODEL_DIR / "model.safetensors")
    wb = load_file(f"{two.out}/{names.MODEL_DIR}/model.safetensors")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5)
