"""The collator pads dynamically and leaves labels only on the answer."""

from __future__ import annotations

import torch

from finetune.collate import collate_examples
from phi3v.processing import IGNORE_INDEX

PAD = 0


def fake_example(prompt: list[int], answer: list[int], crops: int = 2) -> dict[str, torch.Tensor]:
    """Like processor.encode_example: prompt with -1 image placeholders, labels only on the answer."""
    ids = torch.tensor(prompt + answer)
    labels = torch.tensor([IGNORE_INDEX] * len(prompt) + answer)
    return {
        "input_ids": ids,
        "labels": labels,
        "pixel_values": torch.randn(crops, 3, 8, 8),
        "image_sizes": torch.tensor([8, 8 * (crops - 1)]),
    }


def test_pads_to_longest_with_masks():
    """Right padding to the longest example; attention 0 and label -100 on padding."""
    a = fake_example([5, -1, -1, -1, 6], [7, 8, 2])
    b = fake_example([5, -1, -1, -1, 6], [9, 2])
    batch = collate_examples([a, b], pad_token_id=PAD)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["attention_mask"].tolist() == [[1] * 8, [1] * 7 + [0]]
    assert batch["input_ids"][1, 7].item() == PAD
    assert batch["labels"][1].tolist() == [IGNORE_INDEX] * 5 + [9, 2, IGNORE_INDEX]
    assert batch["pixel_values"].shape == (2, 2, 3, 8, 8)
    assert batch["image_sizes"].tolist() == [[8, 8], [8, 8]]


def test_labels_cover_only_answer_even_when_example_says_otherwise():
    """Placeholders (-1) and padding lose their label even if an example's labels were the whole input."""
    ids = torch.tensor([5, -1, -1, 6, 7, 2])
    bad = {
        "input_ids": ids,
        "labels": ids.clone(),
        "pixel_values": torch.zeros(1, 3, 8, 8),
        "image_sizes": [8, 8],
    }
    short = fake_example([5, -1], [2], crops=1)
    batch = collate_examples([bad, short], pad_token_id=PAD)
    labels = batch["labels"]
    assert (labels[batch["input_ids"] < 0] == IGNORE_INDEX).all()
    assert (labels[batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert labels[0].tolist() == [5, IGNORE_INDEX, IGNORE_INDEX, 6, 7, 2]


def test_decoded_labels_are_the_answer():
    """The positions with labels, read off input_ids, are exactly answer + <|end|> for each example."""
    answers = [[11, 12, 13, 2], [14, 2], [15, 16, 2]]
    examples = [fake_example([1, -1, -1, 3, 4], ans) for ans in answers]
    batch = collate_examples(examples, pad_token_id=PAD)
    for row, ans in enumerate(answers):
        keep = batch["labels"][row] != IGNORE_INDEX
        assert batch["input_ids"][row][keep].tolist() == ans
    assert int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) == sum(map(len, answers))


def test_blank_crops_pad_examples_with_fewer_crops():
    """Examples with fewer crops are padded with zero crops."""
    a, b = fake_example([1, -1], [2], crops=3), fake_example([1, -1], [2], crops=1)
    batch = collate_examples([a, b], pad_token_id=PAD)
    assert batch["pixel_values"].shape == (2, 3, 3, 8, 8)
    assert torch.equal(batch["pixel_values"][1, 0], b["pixel_values"][0])
    assert not batch["pixel_values"][1, 1:].any()
