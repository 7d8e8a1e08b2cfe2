"""--fit-memory: the search over micro-batches and checkpointing (fake probes), and the trainer with a fake
GPU memory on the CPU (the probes run for real on the tiny model; only the memory readings are made up)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from torch import nn

from contracts import run_layout as names
from contracts.errors import UserError
from finetune import loop, memory_fit
from finetune.memory_fit import SAFETY, Fit, candidates, choose, describe, trainable_bytes
from finetune.tracking import read_metrics
from tests.processes import free_port, join_as

GIB = 2**30


def fake_probe(needs):
    """A probe whose peak is needs(micro_batch, checkpointing) bytes (None: it runs out of memory); it lists
    the candidates it was asked for."""
    asked = []

    def probe(micro_batch, checkpointing):
        asked.append((micro_batch, checkpointing))
        need = needs(micro_batch, checkpointing)
        if need is None:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return need

    return probe, asked


def test_candidates_go_from_the_fastest_to_the_leanest():
    sizes = [8, 4, 2, 1]
    assert candidates(8) == [(m, False) for m in sizes] + [(m, True) for m in sizes]
    assert [m for m, c in candidates(12) if not c] == [12, 6, 4, 3, 2, 1]


def test_the_recipes_micro_batch_fits_in_one_probe():
    probe, asked = fake_probe(lambda m, c: 5 * GIB * m)
    fit = choose(8, 8, probe, 80 * GIB, reserve=GIB)
    assert (fit.micro_batch, fit.grad_accum, fit.checkpointing) == (8, 1, False)
    assert asked == [(8, False)] and fit.peak == 41 * GIB


def test_halving_until_a_step_fits_keeps_the_examples_per_step():
    """Micro-batch 8 runs out of memory; 4 fits with the optimizer state, 8 examples per step as asked."""
    probe, asked = fake_probe(lambda m, c: None if m == 8 else 15 * GIB * m)
    fit = choose(8, 8, probe, 80 * GIB, reserve=8 * GIB)
    assert (fit.micro_batch, fit.grad_accum, fit.checkpointing) == (4, 2, False)
    assert asked == [(8, False), (4, False)]
    assert fit.needs[(8, False)] is None and fit.peak == 68 * GIB


def test_the_reserve_counts_against_the_limit():
    """A probe just under the limit does not fit once the optimizer state is added."""
    probe, _ = fake_probe(lambda m, c: int(SAFETY * 80 * GIB) - GIB if m == 4 else GIB * m)
    assert choose(4, 4, probe, 80 * GIB, reserve=0).micro_batch == 4
    assert choose(4, 4, probe, 80 * GIB, reserve=2 * GIB).micro_batch == 2


def test_a_larger_micro_batch_than_the_recipes_is_taken_when_it_fits():
    """The probes start at the recipe's micro-batch (2 of 8 per step) and go up while steps fit."""
    probe, asked = fake_probe(lambda m, c: 10 * GIB * m)
    fit = choose(8, 2, probe, 80 * GIB, reserve=0)
    assert (fit.micro_batch, fit.grad_accum) == (4, 2)
    assert asked == [(2, False), (4, False), (8, False)]


def test_checkpointing_only_when_micro_batch_1_does_not_fit_without_it():
    probe, asked = fake_probe(lambda m, c: (20 if c else 90) * GIB * m)
    fit = choose(8, 8, probe, 80 * GIB, reserve=0)
    assert (fit.micro_batch, fit.grad_accum, fit.checkpointing) == (2, 4, True)
    first_with = asked.index((8, True))
    assert (1, False) in asked[:first_with] and all(not c for _, c in asked[:first_with])
    assert all(c for _, c in asked[first_with:])  # the model's checkpointing is only ever turned on
    line = describe(fit)
    assert line.startswith(
        "memory fit: micro-batch 2 x accumulation 4 (8 per step), activation checkpointing"
    )
    assert "peak 40.0 of 80.0 GiB" in line and "micro-batch 4: 80.0 GiB" in line
    assert "micro-batch 1 without checkpointing: 90.0 GiB" in line


def test_nothing_fits_is_one_clear_error():
    probe, _ = fake_probe(lambda m, c: 100 * GIB)
    with pytest.raises(UserError, match=r"even micro-batch 1 with activation checkpointing needs 100.0 GiB"):
        choose(8, 8, probe, 80 * GIB, reserve=0)
    probe, asked = fake_probe(lambda m, c: None)
    with pytest.raises(UserError, match="checkpointing runs out of memory .*: try a smaller --num-crops"):
        choose(4, 4, probe, 80 * GIB, reserve=0)
    assert len(asked) == len(candidates(4))


def test_processes_take_the_tightest_choice():
    """``agree`` gets this process's candidate index and returns the largest of all processes'."""
    probe, _ = fake_probe(lambda m, c: 10 * GIB * m)
    tighter = candidates(8).index((2, True))
    fit = choose(8, 8, probe, 80 * GIB, reserve=0, agree=lambda index: max(index, tighter))
    assert (fit.micro_batch, fit.grad_accum, fit.checkpointing) == (2, 4, True)
    assert fit.peak is None and "what every process fits" in describe(fit)
    with pytest.raises(UserError, match="does not fit on every process"):
        choose(8, 8, probe, 80 * GIB, reserve=0, agree=lambda index: len(candidates(8)))


def test_describe_says_what_and_why():
    fit = Fit(
        4, 2, False, int(79.1 * GIB), {(8, False): None, (2, False): 40 * GIB, (4, False): int(61.2 * GIB)}
    )
    assert describe(fit) == (
        "memory fit: micro-batch 4 x accumulation 2 (8 per step), no activation checkpointing: peak 61.2 of "
        "79.1 GiB (micro-batch 8: out of memory; a step may use 90%)"
    )


def test_trainable_bytes_count_trainable_parameters_in_their_dtype():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2).to(torch.bfloat16))
    model[0].requires_grad_(False)
    assert trainable_bytes(model) == (4 * 2 + 2) * 2


# -- the trainer, with a made-up GPU memory ------------------------------------------------------------------


class FakeMemory:
    """A device of 100 GiB; a probe's peak is ``needs[(micro_batch, checkpointing)]`` GiB of the last forward
    pass (None: out of memory), as ``watch`` saw it. (The tiny model's optimizer state adds a few MiB.)"""

    def __init__(self, needs):
        self.needs, self.capacity = needs, 100 * GIB
        self.forwards: list[tuple[int, bool]] = []
        self.lengths: list[list[int]] = []  # each forward's example lengths, longest first
        self.probes: list[tuple[int, bool]] = []

    def clear(self):
        pass

    def peak(self):
        self.probes.append(self.forwards[-1])
        need = self.needs[self.forwards[-1]]
        if need is None:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (made up)")
        return need * GIB


def watch(memory, patch):
    """The trainer reads ``memory`` as its GPU's and notes each forward's (micro-batch, checkpointing)."""
    real = loop.answer_loss_sum

    def loss_sum(model, batch, device, bf16):
        checkpointing = any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
        memory.forwards.append((batch["input_ids"].shape[0], checkpointing))
        memory.lengths.append(sorted(batch["attention_mask"].sum(1).tolist(), reverse=True))
        return real(model, batch, device, bf16)

    patch(loop, "answer_loss_sum", loss_sum)
    patch(memory_fit, "device_memory", lambda device: memory)


def _config(run):
    return json.loads((run / names.CONFIG_FILE).read_text())["train"]


def _losses(run):
    return [r["loss"] for r in read_metrics(run) if r["split"] == "train"]


@pytest.mark.slow
def test_on_a_cpu_fit_memory_changes_nothing(fast_config):
    result = loop.train(fast_config(fit_memory=True, max_steps=1))
    saved = _config(result.run_dir)
    assert (saved["batch_size"], saved["grad_accum"], saved["gradient_checkpointing"]) == (4, 1, False)
    assert saved["fit_memory"] is True  # nothing was chosen


@pytest.mark.slow
def test_the_fitted_run_trains_as_the_same_split_asked_for_and_resumes_without_probing(
    fast_config, monkeypatch
):
    """Micro-batch 4 needs too much, 2 fits: the run records 2 x 2, trains exactly as a run asked for 2 x 2
    (the probes leave the weights and the random numbers as they were), and --resume, given the flags of the
    first invocation, continues with 2 x 2 and probes nothing."""
    changes = {"max_steps": 3, "dropout": 0.1}
    plain = loop.train(fast_config("plain", batch_size=2, grad_accum=2, **changes))

    rng_kept, longest = [], []
    fit_to_memory = loop._Recipe.fit_to_memory

    def fit_and_check(self, memory):
        longest.append(sorted(self.train_set.lengths, reverse=True))
        before = torch.get_rng_state()
        fit_to_memory(self, memory)
        rng_kept.append(torch.equal(before, torch.get_rng_state()))

    monkeypatch.setattr(loop._Recipe, "fit_to_memory", fit_and_check)
    memory = FakeMemory({(4, False): 95, (2, False): 60})
    watch(memory, monkeypatch.setattr)
    first = loop.train(fast_config("fit", fit_memory=True, stop_after=1, **changes))
    assert memory.probes == [(4, False), (2, False)] and rng_kept == [True]
    # the probes ran first, on the longest examples; then the training micro-batches, of 2
    assert memory.forwards[:2] == [(4, False), (2, False)] and set(memory.forwards[2:]) == {(2, False)}
    assert memory.lengths[:2] == [longest[0][:4], longest[0][:2]]
    saved = _config(first.run_dir)
    assert (saved["batch_size"], saved["grad_accum"], saved["fit_memory"]) == (2, 2, True)
    assert "batch_size: 2\n" in (first.run_dir / names.RECIPE_FILE).read_text()

    resumed_memory = FakeMemory({})
    watch(resumed_memory, monkeypatch.setattr)
    second = loop.train(fast_config("fit", fit_memory=True, resume=True, **changes))
    assert second.steps == 3 and resumed_memory.probes == [] and rng_kept == [True]
    assert _losses(second.run_dir) == _losses(plain.run_dir)
    weights = names.MODEL_DIR + "/model.safetensors"
    wa, wb = load_file(plain.run_dir / weights), load_file(second.run_dir / weights)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_checkpointing_is_turned_on_when_nothing_fits_without_it(fast_config, monkeypatch):
    needs = {(m, False): None for m in (4, 2, 1)} | {(4, True): 80}
    memory = FakeMemory(needs)
    watch(memory, monkeypatch.setattr)
    result = loop.train(fast_config(fit_memory=True, max_steps=1))
    assert memory.probes == [(4, False), (2, False), (1, False), (4, True)]
    saved = _config(result.run_dir)
    assert (saved["batch_size"], saved["grad_accum"], saved["gradient_checkpointing"]) == (4, 1, True)
    assert memory.forwards[-1] == (4, True)  # the training step ran with checkpointing


@pytest.mark.slow
def test_when_nothing_fits_the_start_fails_cleanly(fast_config, tmp_path, monkeypatch):
    memory = FakeMemory({(m, c): None for m in (4, 2, 1) for c in (False, True)})
    watch(memory, monkeypatch.setattr)
    with pytest.raises(
        UserError, match="out of GPU memory: even micro-batch 1 with activation checkpointing"
    ):
        loop.train(fast_config(fit_memory=True))
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing


def _worker(rank: int, world: int, port: int, cfg) -> None:
    """A process whose made-up GPU fits micro-batch 2 (rank 0) or only 1 (rank 1)."""
    join_as(rank, world, port)
    watch(FakeMemory({(2, False): 60 if rank == 0 else 95, (1, False): 50}), setattr)
    loop.train(cfg)


@pytest.mark.slow
def test_processes_agree_on_the_tightest_fit(fast_config):
    """Two processes, one of which fits micro-batch 1 only: both take 1 x 2, and train as one process with
    the same global batch does."""
    one = loop.train(fast_config("one", max_steps=2, eval_every=2))
    two = fast_config("two", max_steps=2, eval_every=2, batch_size=2, fit_memory=True)
    mp.spawn(_worker, args=(2, free_port(), two), nprocs=2, join=True)
    saved = _config(Path(two.out))
    assert (saved["batch_size"], saved["grad_accum"], saved["fit_memory"]) == (1, 2, True)
    a, b = read_metrics(one.run_dir), read_metrics(two.out)
    torch.testing.assert_close([r["loss"] for r in a], [r["loss"] for r in b], rtol=1e-5, atol=1e-6)
