"""Reading, encoding, caching and length-grouped batching of the training data."""

from __future__ import annotations

import pytest
import torch

from contracts.dataset import layout
from contracts.errors import UserError
from contracts.task import answers_of
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


def _fake_encode(image, answer, with_pixels=True):
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
    answers = answers_of(frame)
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


def test_text_alone_and_images_made_on_demand_equal_the_kept_encoding(handmade_dataset):
    """keep_pixels=False encodes the same text and image sizes without the HD transform's pixels, and
    ``image_source`` makes, image for image, the pixels a kept encoding holds."""
    from phi3v.loading import load_model

    _, processor = load_model("tiny", overrides={"num_crops": 4}, corpus=["Product: Category: Full Price:"])
    frame = data.read_training_splits(handmade_dataset)["train"]
    answers = answers_of(frame)
    kept = data.encode_split(frame, answers, processor.encode_example)
    text = data.encode_split(frame, answers, processor.encode_example, keep_pixels=False)
    assert kept.keeps_pixels and not text.keeps_pixels and "pixel_values" not in text.tensors()
    for key in ("input_ids", "labels", "offsets", "image_sizes"):
        assert torch.equal(getattr(kept, key), getattr(text, key)), key
    with pytest.raises(ValueError, match="no image source"):
        text[0]
    text.source = data.image_source(frame, processor.image_processor)
    for i in range(len(frame)):
        assert torch.equal(text[i]["pixel_values"], kept[i]["pixel_values"])
    assert data.pixel_bytes(len(frame), processor.image_processor) == kept.pixel_values.numel() * 4


def test_prefetcher_hands_items_back_in_order():
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        ahead = data.Prefetcher(lambda k: k * k, range(2, 9), pool, ahead=4)
        assert [ahead.get(k) for k in range(2, 6)] == [4, 9, 16, 25]
        with pytest.raises(ValueError, match="asked for 7"):
            ahead.get(7)
        ahead.cancel()
        with pytest.raises(ValueError, match="prefetched nothing"):
            ahead.get(6)


def test_cache_key_changes_with_processor_and_split():
    base = data.cache_key("f", "train", {"a.json": b"1"})
    assert base != data.cache_key("f", "validation", {"a.json": b"1"})
    assert base != data.cache_key("f", "train", {"a.json": b"2"})


def test_batches_cover_epoch_and_group_lengths():
    """Every example once per epoch; batches sorted by length in windows; order from seed and epoch."""
    lengths = [(i * 37) % 50 + 10 for i in range(103)]
    plan = data.LengthGroupedBatches(lengths, 8, seed=0, group=4)
    batches = [plan.micro_batches(k)[1][0] for k in range(len(plan))]
    seen = sorted(i for b in batches for i in b)
    assert len(plan) == 12 and len(seen) == 96 and len(set(seen)) == 96  # the partial last batch is dropped

    def padded(bs):
        return sum(max(lengths[i] for i in b) * len(b) for b in bs)

    ungrouped = data.LengthGroupedBatches(lengths, 8, seed=0, group=1)
    assert padded(batches) < 0.85 * padded(ungrouped.micro_batches(k)[1][0] for k in range(12))
    assert plan.step_batches(1) != plan.step_batches(0)
    assert data.LengthGroupedBatches(lengths, 8, seed=0, group=4).step_batches(0) == plan.step_batches(0)


@pytest.mark.parametrize(("batch", "accum", "world"), [(3, 1, 2), (2, 3, 1), (1, 2, 3)])
def test_any_split_of_the_global_batch_sees_the_same_examples(batch, accum, world):
    """Per step, the micro-batches of all processes together are the step batch of one big-batch process."""
    lengths = [(i * 13) % 29 + 3 for i in range(40)]
    big = data.LengthGroupedBatches(lengths, batch * accum * world, seed=3)
    parts = [
        data.LengthGroupedBatches(lengths, batch, seed=3, grad_accum=accum, world_size=world, rank=r)
        for r in range(world)
    ]
    assert all(len(p) == len(big) for p in parts)
    for step in range(len(big) + 2):  # into the next epoch
        epoch, (whole,) = big.micro_batches(step)
        pieces = [mb for p in parts for mb in p.micro_batches(step)[1]]
        assert sorted(i for mb in pieces for i in mb) == sorted(whole)
        assert all(len(mb) == batch for mb in pieces)
        assert epoch == step // len(big)


def test_mirror_crops_is_the_mirrored_image():
    """Mirrored crops equal the crops of the mirrored image (sub-crops reversed per row, each flipped)."""
    crop = 2
    image = torch.arange(3 * 4 * 6, dtype=torch.float32).view(3, 4, 6)  # padded (4, 6): a 2 x 3 grid

    def crops(img):
        sub = img.view(3, 2, crop, 3, crop).permute(1, 3, 0, 2, 4).reshape(-1, 3, crop, crop)
        return torch.cat(
            [img[:, :crop, :crop][None], sub, torch.zeros(1, 3, crop, crop)]
        )  # global, subs, blank

    mirrored = data.mirror_crops(crops(image), torch.tensor([4, 6]), crop)
    expected = crops(image.flip(-1))
    torch.testing.assert_close(mirrored[1:], expected[1:])
    torch.testing.assert_close(mirrored[0], crops(image)[0].flip(-1))


def test_mirroring_is_seeded_per_epoch():
    """Half the examples are mirrored; the draw is fixed by (seed, epoch) and differs between epochs."""
    a, b = data.flip_draws(1000, 0, 1), data.flip_draws(1000, 0, 2)
    assert torch.equal(a, data.flip_draws(1000, 0, 1)) and not torch.equal(a, b)
    assert 400 < int(a.sum()) < 600


def test_translate_moves_pixels_and_repeats_the_edge():
    image = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4)
    moved = data._translate(image, 1, -1)  # one right, one up
    torch.testing.assert_close(moved[:, :2, 1:], image[:, 1:, :3])
    torch.testing.assert_close(moved[:, :, 0], moved[:, :, 1])  # left column: the edge repeated
    torch.testing.assert_close(moved[:, 2], moved[:, 1])  # bottom row: the edge repeated
    assert data._translate(image, 0, 0) is image


def test_shift_crops_are_the_crops_of_the_moved_image():
    """The sub-crop grid moves as one image (no seams between crops); the global view moves by the same
    fraction of its own side; blank crops stay blank."""
    crop = 4
    image = torch.randn(3, 8, 12)  # padded (8, 12): a 2 x 3 grid

    def crops(img):
        glob = torch.nn.functional.interpolate(img[None], size=(crop, crop), mode="nearest")[0]
        sub = img.view(3, 2, crop, 3, crop).permute(1, 3, 0, 2, 4).reshape(-1, 3, crop, crop)
        return torch.cat([glob[None], sub, torch.zeros(1, 3, crop, crop)])

    pixels = crops(image)
    shifted = data.shift_crops(pixels, torch.tensor([8, 12]), crop, torch.tensor([1 / 3, -0.25]))
    torch.testing.assert_close(shifted[1:], crops(data._translate(image, 4, -2))[1:])
    torch.testing.assert_close(shifted[0], data._translate(pixels[0], 1, -1))
    assert shifted.shape == pixels.shape


def test_training_examples_augment_only_when_asked():
    pixels = torch.randn(3, 3, 4, 4)  # global, one sub-crop, one blank
    split = [{"pixel_values": pixels, "image_sizes": torch.tensor([4, 4])} for _ in range(8)]
    plain = data.training_examples(split, range(8), seed=0, epoch=0, crop=4)
    assert all(e["pixel_values"] is pixels for e in plain)
    mirrored = data.training_examples(split, range(8), seed=0, epoch=0, crop=4, mirror=True)
    flips = data.flip_draws(8, 0, 0)
    for e, flipped in zip(mirrored, flips, strict=True):
        expected = pixels.flip(-1) if flipped else pixels
        torch.testing.assert_close(e["pixel_values"], expected)
