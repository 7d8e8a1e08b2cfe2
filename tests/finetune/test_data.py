"""Reading, encoding, caching and length-grouped batching of the training data."""

from __future__ import annotations

import pytest
import torch

from datagen import layout
from datagen.errors import UserError
from finetune import data


def test_missing_dir_and_missing_split_are_user_errors(tmp_path, handmade_dataset):
    with pytest.raises(UserError, match="no such dataset dir"):
        data.read_training_splits(tmp_path / "nope")
    (handmade_dataset / "validation" / layout.METADATA_FILE).unlink()
    with pytest.raises(UserError, match="validation"):
        data.read_training_splits(handmade_dataset)


def test_dataset_record_counts_every_split(handmade_dataset):
    frames = data.read_training_splits(handmade_dataset)
    record = data.dataset_record(handmade_dataset, frames)
    assert record["rows"] == {"train": 12, "validation": 4, "test": 4}
    assert len(record["fingerprint"]) == 64


def _fake_encode(image, answer):
    n = 3 + len(answer) % 5
    return {
        "input_ids": torch.tensor([1, -1, -1] + list(range(4, 4 + n))),
        "labels": torch.tensor([-100] * 3 + list(range(4, 4 + n))),
        "pixel_values": torch.full((2, 3, 4, 4), float(image.size[1])),
        "image_sizes": torch.tensor(image.size[::-1]),
    }


def test_encode_and_cache_round_trip(tmp_path, handmade_dataset):
    """Encoded tensors survive the safetensors cache; a second call does not encode again."""
    frame = data.read_training_splits(handmade_dataset)["train"]
    answers = data.answer_texts(frame, lambda t, c, p: f"Product: {t}, Category: {c}, Full Price: {p}")
    calls = []

    def encode():
        calls.append(1)
        return data.encode_split(frame, answers, _fake_encode)

    first = data.load_or_encode(tmp_path / "cache", "k", encode)
    second = data.load_or_encode(tmp_path / "cache", "k", encode)
    assert len(calls) == 1 and len(second) == 12
    for i in (0, 5, 11):
        for key, value in first[i].items():
            assert torch.equal(value, second[i][key]), key


def test_cache_key_changes_with_processor_and_split():
    base = data.cache_key("f", "train", {"a.json": b"1"})
    assert base != data.cache_key("f", "validation", {"a.json": b"1"})
    assert base != data.cache_key("f", "train", {"a.json": b"2"})


def test_batches_cover_epoch_and_group_lengths():
    """Every example once per epoch; batches are sorted by length in windows; order from seed and epoch."""
    lengths = [(i * 37) % 50 + 10 for i in range(103)]
    plan = data.LengthGroupedBatches(lengths, 8, seed=0, group=4)
    batches = plan.epoch(0)
    assert sorted(i for b in batches for i in b) == list(range(103)) and len(batches) == len(plan) == 13

    def padded(bs):
        return sum(max(lengths[i] for i in b) * len(b) for b in bs)

    ungrouped = data.LengthGroupedBatches(lengths, 8, seed=0, group=1).epoch(0)
    assert padded(batches) < 0.85 * padded(ungrouped)
    assert (
        plan.epoch(1) != batches
        and data.LengthGroupedBatches(lengths, 8, seed=0, group=4).epoch(0) == batches
    )


def test_processes_share_global_batches():
    """Two processes with batch B see together exactly what one process with batch 2B sees."""
    lengths = list(range(40, 0, -1))
    single = data.LengthGroupedBatches(lengths, 6, seed=3).epoch(2)
    ranks = [data.LengthGroupedBatches(lengths, 3, seed=3, world_size=2, rank=r).epoch(2) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for whole, a, b in zip(single, *ranks, strict=True):
        assert a + b == whole and a and b


def test_step_position_is_a_function_of_the_step():
    """Optimizer step k uses grad_accum micro-batches; steps wrap into the next epoch."""
    plan = data.LengthGroupedBatches([5] * 10, 2, seed=0)  # 5 micro-batches per epoch
    assert data.steps_per_epoch(len(plan), 2) == 3
    epoch, mbs = data.step_micro_batches(plan, 2, 2)
    assert epoch == 0 and mbs == plan.epoch(0)[4:]
    epoch, mbs = data.step_micro_batches(plan, 2, 3)
    assert epoch == 1 and mbs == plan.epoch(1)[:2]
