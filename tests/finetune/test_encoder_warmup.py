"""Warming up the tiny image encoder on the answer's parts: it learns, repeats, touches only the encoder."""

from __future__ import annotations

import pytest
import torch

from contracts.errors import UserError
from contracts.task import AnswerParts
from finetune import data
from finetune.config import TrainConfig, resolve
from finetune.encoder_warmup import EncoderWarmup, Targets, augment_views, build_targets
from finetune.settings import from_recipe
from phi3v.loading import load_model


def _toy(n: int = 64, side: int = 112) -> tuple[torch.Tensor, Targets]:
    """Two classes a CLIP tower can tell apart whatever the mirroring and shifting: stripes across or down."""
    stripes = (torch.arange(side) // 4 % 2).float() * 2 - 1
    across, down = stripes.view(side, 1).expand(side, side), stripes.view(1, side).expand(side, side)
    noise = torch.Generator().manual_seed(0)
    views = torch.stack([(across if i % 2 else down).expand(3, side, side) for i in range(n)])
    views = views + 0.3 * torch.randn(views.shape, generator=noise)
    across_rows = [i % 2 == 1 for i in range(n)]
    return views, build_targets(
        [
            AnswerParts("Striped Across Scarf", "ACROSS", 300.0)
            if a
            else AnswerParts("Striped Down Scarf", "DOWN", 100.0)
            for a in across_rows
        ]
    )


def test_targets_come_from_the_answers():
    t = build_targets(
        [
            AnswerParts("Check Wool Scarf", "B", 100.0),
            AnswerParts("Wool Coat in Black", "A", 1000.0),
            AnswerParts("Check wool scarf", "B", 100.0),
        ]
    )
    assert t.classes == ("A", "B") and t.categories.tolist() == [1, 0, 1]
    assert t.vocabulary == ("check", "scarf", "wool")  # lowercased; words seen once are left out
    assert t.words.tolist() == [[1, 1, 1], [0, 0, 1], [1, 1, 1]]
    assert abs(float(t.log_price.mean())) < 1e-6 and abs(float(t.log_price.std()) - 1) < 1e-6
    assert t.log_price[1] > t.log_price[0] == t.log_price[2]


def warm_up_encoder(embedding, views, targets, **kwargs):
    """A whole warm-up, as the training loop runs one without interruptions."""
    return EncoderWarmup(embedding, views, targets, **kwargs).run()


def _model():
    return load_model("tiny", dtype=torch.float32, seed=0)[0]


@pytest.mark.parametrize("shift", [0.0, 0.004, 0.14, 0.5])  # 0.004 of 28 px rounds to no move at all
def test_warmup_augmentation_is_the_finetunes_mirror_and_shift(shift):
    """The batched augmentation gives, view for view, what data.mirror_crops and data.shift_crops give."""
    views = torch.randn(48, 3, 28, 28, generator=torch.Generator().manual_seed(3))
    got = augment_views(views, torch.Generator().manual_seed(5), shift)
    gen, alone = torch.Generator().manual_seed(5), torch.tensor([0, 0])  # the same draws, in the same order
    flips = torch.rand(len(views), generator=gen) < 0.5
    moves = (torch.rand(len(views), 2, generator=gen) * 2 - 1) * shift
    for view, flip, move, out in zip(views, flips, moves, got, strict=True):
        crops = data.mirror_crops(view[None], alone, 28) if flip else view[None]
        assert torch.equal(out, data.shift_crops(crops, alone, 28, move)[0])
    assert 0 < int(flips.sum()) < len(views)
    assert (int((moves * 28).round().abs().amax()) > 0) == (shift > 0.01)  # views moved where they could


def test_warmup_learns_and_changes_only_the_image_encoder_and_projection():
    model = _model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    views, targets = _toy()
    result = warm_up_encoder(
        model.model.vision_embed_tokens, views, targets, epochs=10, seed=0, device=torch.device("cpu")
    )
    assert len(result.losses) == 10 and result.seconds > 0
    assert result.losses[-1] < result.losses[0] * 0.5
    assert result.train_accuracy > 0.9
    assert result.val_accuracy is None  # no held-out views given
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert all(k.startswith("model.vision_embed_tokens.") for k in changed)
    assert any(".img_processor." in k for k in changed) and any(".img_projection." in k for k in changed)


def test_warmup_is_repeatable():
    views, targets = _toy(32)
    runs = []
    for _ in range(2):
        model = _model()
        warm_up_encoder(
            model.model.vision_embed_tokens, views, targets, epochs=2, seed=3, device=torch.device("cpu")
        )
        runs.append(model.model.vision_embed_tokens.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_warmup_defaults_and_refusals():
    assert from_recipe("tiny-cpu", data="d", out="o").encoder_warmup == 80
    assert from_recipe("tiny-cpu", data="d", out="o", encoder_warmup=0).encoder_warmup == 0
    assert from_recipe("phi3v-lora", data="d", out="o").encoder_warmup == 0  # LoRA: a frozen tower
    with pytest.raises(UserError, match="--encoder-warmup"):
        resolve(from_recipe("phi3v-lora", data="d", out="o", encoder_warmup=5))
    with pytest.raises(UserError, match="--encoder-warmup"):
        resolve(from_recipe("tiny-cpu", data="d", out="o", freeze_vision=True))
    with pytest.raises(UserError, match="--encoder-warmup"):
        TrainConfig(data="d", out="o", encoder_warmup=-1)


def test_warmup_scores_held_out_views():
    views, targets = _toy(80)
    labels = [targets.classes[int(i)] for i in targets.categories]
    model = _model()
    result = warm_up_encoder(
        model.model.vision_embed_tokens,
        views[:64],
        build_targets([AnswerParts("Scarf", label, 100.0) for label in labels[:64]]),
        epochs=10,
        seed=0,
        device=torch.device("cpu"),
        val_views=views[64:],
        val_categories=labels[64:-1] + ["UNSEEN"],  # a label training never saw counts as a miss
    )
    assert result.val_accuracy is not None and 0.8 < result.val_accuracy <= 15 / 16


@pytest.mark.parametrize("image_size", [112, 224])  # 4 x 4 tokens, read as they are; 8 x 8, pooled to 4 x 4
def test_head_reads_the_decoders_image_tokens_in_their_layout(image_size):
    """The head's input is the projected image-token grid of the view, cell by cell (averaged 2 x 2 where the
    grid is finer than 4 x 4): the tokens the decoder reads for that crop, where it reads them."""
    from finetune.encoder_warmup import HEAD_GRID, head_features

    overrides = {"vision_config": {"image_size": image_size}}
    emb = load_model("tiny", dtype=torch.float32, seed=0, overrides=overrides)[0].model.vision_embed_tokens
    emb.eval()
    views = torch.randn(3, 3, image_size, image_size, generator=torch.Generator().manual_seed(1))
    sizes = torch.tensor([[image_size, image_size]] * 3)
    with torch.no_grad():
        got = head_features(emb, views)
        # the decoder's tokens for the same images: each image's global view comes after its sub-crop
        # tokens and the separator, m rows of m tokens each followed by a row separator
        pixels = torch.stack([views, views], 1)  # global view + its one sub-crop (the same pixels)
        decoder = emb(pixels, sizes).view(3, -1, got.shape[1] // HEAD_GRID**2)
    m, width = emb.merged, decoder.shape[-1]
    per_image = decoder.shape[1]
    glb = decoder[:, per_image - m * (m + 1) :].reshape(3, m, m + 1, width)[:, :, :m]  # separators dropped
    assert got.shape == (3, HEAD_GRID * HEAD_GRID * width)
    k = m // HEAD_GRID
    want = glb.reshape(3, HEAD_GRID, k, HEAD_GRID, k, width).mean((2, 4))
    torch.testing.assert_close(got.view(3, HEAD_GRID, HEAD_GRID, width), want)
