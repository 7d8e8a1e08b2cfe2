"""The encoder warm-up stage (``--encoder-warmup``): a from-scratch image encoder learns to read the answer's
parts before fine-tuning.

Through the answer's loss alone an image encoder learned from nothing learns slowly; trained on the answer's
parts directly it gets far further in a fraction of the time. A linear head on the image tokens the decoder
reads (the CLIP features merged 2x2 and projected, ``head_features``), kept in their layout, predicts the
category (cross-entropy), which words the title holds (binary cross-entropy) and the log price (squared
error, standardised), from the training split's global views mirrored and moved. The head is dropped
afterwards; fine-tuning starts from the warmed-up encoder and projection. Only the training answers are read
(``contracts.task``). The stage can stop after any batch and go on from its saved state. Figures:
docs/results.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from contracts.task import AnswerParts
from finetune import data

LR = 2e-3
WEIGHT_DECAY = 0.05
BATCH_SIZE = 32
SHIFT = 0.14  # augmentation: fraction of the side each view may move
HEAD_GRID = 4  # the head reads the patch grid pooled to at most this many cells per side


@dataclass(frozen=True)
class Targets:
    """What the warm-up head predicts, as tensors over the training examples."""

    categories: torch.Tensor  # (N,) class index
    words: torch.Tensor  # (N, V) 1.0 where the title holds the word
    log_price: torch.Tensor  # (N,) standardised log price
    classes: tuple[str, ...]
    vocabulary: tuple[str, ...]


def title_words(title: str) -> set[str]:
    return set(str(title).lower().split())


def build_targets(answers: Sequence[AnswerParts], *, min_count: int = 2) -> Targets:
    """Targets from the training answers' parts (``contracts.task.answer_parts_of``); title words seen
    fewer than ``min_count`` times are left out."""
    categories = [a.category for a in answers]
    titles = [a.title for a in answers]
    prices = [a.price for a in answers]
    classes = tuple(sorted(set(map(str, categories))))
    index = {c: i for i, c in enumerate(classes)}
    bags = [title_words(t) for t in titles]
    counts: dict[str, int] = {}
    for bag in bags:
        for w in bag:
            counts[w] = counts.get(w, 0) + 1
    vocabulary = tuple(sorted(w for w, n in counts.items() if n >= min_count))
    column = {w: j for j, w in enumerate(vocabulary)}
    words = torch.zeros(len(bags), len(vocabulary))
    for i, bag in enumerate(bags):
        for w in bag:
            if w in column:
                words[i, column[w]] = 1.0
    log_price = torch.tensor([math.log(max(float(p), 1e-6)) for p in prices])
    log_price = (
        (log_price - log_price.mean()) / log_price.std().clamp_min(1e-6) if len(prices) > 1 else log_price * 0
    )
    return Targets(torch.tensor([index[str(c)] for c in categories]), words, log_price, classes, vocabulary)


@dataclass(frozen=True)
class WarmupResult:
    epochs: int
    seconds: float
    losses: tuple[float, ...]  # mean training loss of each epoch
    train_accuracy: float  # of the last epoch's (augmented) batches
    val_accuracy: float | None = None  # the head's category accuracy on held-out views, when given


def augment_views(views: torch.Tensor, gen: torch.Generator, shift: float = SHIFT) -> torch.Tensor:
    """Global views (N, 3, c, c), half of them mirrored and each moved by up to ``shift`` of its side (0: not
    moved), drawn from ``gen``: the finetune's mirror and shift augmentation (``data.mirror_crops``,
    ``data.shift_crops``) for views without sub-crops."""
    crop = views.shape[-1]
    alone = torch.tensor([0, 0])  # global views alone: no sub-crop grid
    flips = torch.rand(len(views), generator=gen) < 0.5
    moves = (torch.rand(len(views), 2, generator=gen) * 2 - 1) * shift
    out = []
    for view, flip, move in zip(views, flips, moves, strict=True):
        crops = data.mirror_crops(view[None], alone, crop) if flip else view[None]
        out.append(data.shift_crops(crops, alone, crop, move)[0] if shift > 0 else crops[0])
    return torch.stack(out)


class EncoderWarmup:
    """Trains ``image_embedding``'s CLIP tower and projection to read ``targets`` from ``views`` (N, 3, c, c),
    batch by batch, and can stop after any batch and go on later from its saved state.

    Args:
        image_embedding: the model's ``Phi3VImageEmbedding`` (its ``project_crops`` gives the image tokens
            the decoder reads).
        views: normalised global views of the training images.
        targets: their answers' parts (``build_targets``).
        epochs: passes over ``views`` (one-cycle schedule over all of them).
        seed: fixes the head's initialisation, the order and the augmentation.
        val_views, val_categories: held-out views and their labels; the result then reports how well the
            warmed-up encoder reads the category there (a label unseen in training counts as a miss).
    """

    def __init__(
        self,
        image_embedding: nn.Module,
        views: torch.Tensor,
        targets: Targets,
        *,
        epochs: int,
        seed: int,
        device: torch.device,
        val_views: torch.Tensor | None = None,
        val_categories: Sequence[str] | None = None,
    ) -> None:
        self.embedding, self.views, self.targets = image_embedding, views, targets
        self.epochs, self.device = epochs, device
        self.val_views, self.val_categories = val_views, val_categories
        self.n_classes, self.n_words = len(targets.classes), len(targets.vocabulary)
        self.gen = torch.Generator().manual_seed(seed + 4_099)
        width = head_width(image_embedding)
        # built uninitialised (nn.Linear's own init would draw from the global RNG for nothing), then
        # initialised from the warm-up's own generator
        head = nn.utils.skip_init(nn.Linear, width, self.n_classes + self.n_words + 1, device=device)
        with torch.no_grad():
            bound = 1 / math.sqrt(width)
            head.weight.copy_(torch.rand(head.weight.shape, generator=self.gen) * 2 * bound - bound)
            head.bias.zero_()
            # word logits start at each word's frequency, so the first steps are not spent learning priors
            prior = targets.words.mean(0).clamp(1e-3, 1 - 1e-3) if self.n_words else torch.zeros(0)
            head.bias[self.n_classes : self.n_classes + self.n_words] = torch.log(prior / (1 - prior)).to(
                device
            )
        self.head = head
        # per-title word loss summed over the vocabulary, scaled to about one unit per title word
        self.words_per_title = max(1.0, float(targets.words.sum(1).mean())) if self.n_words else 1.0
        params = trained_parameters(image_embedding) + list(head.parameters())
        fused = device.type in ("cuda", "cpu") or None
        self.optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY, fused=fused)
        self.batch = min(BATCH_SIZE, len(views))
        self.per_epoch = len(views) // self.batch
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, LR, total_steps=epochs * self.per_epoch
        )
        # where the warm-up stands: the next batch of the current epoch, and what the epoch has summed so far
        self.epoch, self.batch_index = 0, 0
        self.order: torch.Tensor | None = None
        self.total, self.correct, self.seen = 0.0, 0, 0
        self.losses: list[float] = []
        self.seconds = 0.0
        self.train_accuracy = 0.0

    @property
    def done(self) -> bool:
        return self.epoch >= self.epochs

    def _train_batch(self) -> None:
        if self.order is None:
            self.order = torch.randperm(len(self.views), generator=self.gen)
            self.total, self.correct, self.seen = 0.0, 0, 0
        k, batch, targets, device = self.batch_index, self.batch, self.targets, self.device
        pick = self.order[k * batch : (k + 1) * batch]
        x = augment_views(self.views[pick], self.gen).to(device)
        y = targets.categories[pick].to(device)
        out = self.head(head_features(self.embedding, x))
        logits = out[:, : self.n_classes]
        loss = nn.functional.cross_entropy(logits, y)
        if self.n_words:
            bce = nn.functional.binary_cross_entropy_with_logits(
                out[:, self.n_classes : -1], targets.words[pick].to(device), reduction="sum"
            )
            loss = loss + bce / len(pick) / self.words_per_title
        loss = loss + nn.functional.mse_loss(out[:, -1], targets.log_price[pick].to(device))
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        # Gradients go as soon as they are used: left on the encoder they would join the first fine-tuning
        # step's, a state no checkpoint holds (a run resumed from the warm-up's checkpoint went elsewhere).
        self.optimizer.zero_grad(set_to_none=True)
        self.total += float(loss.detach()) * len(pick)
        self.correct += int((logits.argmax(1) == y).sum())
        self.seen += len(pick)
        self.batch_index += 1
        if self.batch_index == self.per_epoch:
            self.losses.append(self.total / self.seen)
            self.train_accuracy = self.correct / max(1, self.seen)
            self.epoch, self.batch_index, self.order = self.epoch + 1, 0, None

    def run(
        self,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> WarmupResult | None:
        """Train until done (the result) or until ``should_stop()`` says so after a batch (None; the state
        is then ready for ``state_dict``). ``on_epoch(epoch, loss)`` follows each finished epoch (from 1)."""
        was_training = self.embedding.training
        self.embedding.train()
        try:
            while not self.done:
                start = time.perf_counter()
                epoch = self.epoch
                self._train_batch()
                self.seconds += time.perf_counter() - start
                if self.epoch > epoch and on_epoch is not None:
                    on_epoch(self.epoch, self.losses[-1])
                if not self.done and should_stop():
                    return None
        finally:
            self.embedding.train(was_training)
        return self.result()

    def result(self) -> WarmupResult:
        return WarmupResult(
            self.epochs, self.seconds, tuple(self.losses), self.train_accuracy, self.validation_accuracy()
        )

    @torch.no_grad()
    def validation_accuracy(self) -> float | None:
        views, categories = self.val_views, self.val_categories
        if views is None or categories is None or not len(views):
            return None
        was_training = self.embedding.training
        self.embedding.eval()
        index = {c: i for i, c in enumerate(self.targets.classes)}
        truth = torch.tensor([index.get(str(c), -1) for c in categories])
        hits = 0
        for k in range(0, len(views), self.batch):
            feats = head_features(self.embedding, views[k : k + self.batch].to(self.device))
            guess = self.head(feats)[:, : self.n_classes].argmax(1).cpu()
            hits += int((guess == truth[k : k + self.batch]).sum())
        self.embedding.train(was_training)
        return hits / len(views)

    # -- saving and resuming ----------------------------------------------------------------------------

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
        """(tensors, optimizer and schedule states, plain values): everything ``load_state_dict`` needs
        to go on exactly where the warm-up stands."""
        tensors = {f"embedding.{k}": v for k, v in self.embedding.state_dict().items()}
        tensors.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        tensors["generator"] = self.gen.get_state()
        if self.order is not None:
            tensors["order"] = self.order
        states = {"optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict()}
        plain = {
            "epoch": self.epoch,
            "batch": self.batch_index,
            "epochs": self.epochs,
            "partial": [self.total, self.correct, self.seen],
            "losses": self.losses,
            "seconds": self.seconds,
            "train_accuracy": self.train_accuracy,
        }
        return tensors, states, plain

    def load_state_dict(
        self, tensors: dict[str, torch.Tensor], states: dict[str, Any], plain: dict[str, Any]
    ) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        if plain["epochs"] != self.epochs:
            raise ValueError(f"the saved warm-up ran {plain['epochs']} epochs, this one {self.epochs}")
        self.embedding.load_state_dict(part("embedding."))
        self.head.load_state_dict(part("head."))
        self.gen.set_state(tensors["generator"])
        self.order = tensors.get("order")
        self.optimizer.load_state_dict(states["optimizer"])
        self.schedule.load_state_dict(states["schedule"])
        self.epoch, self.batch_index = int(plain["epoch"]), int(plain["batch"])
        total, correct, seen = plain["partial"]
        self.total, self.correct, self.seen = float(total), int(correct), int(seen)
        self.losses = [float(x) for x in plain["losses"]]
        self.seconds = float(plain["seconds"])
        self.train_accuracy = float(plain["train_accuracy"])


def trained_parameters(image_embedding: nn.Module) -> list[nn.Parameter]:
    """What the warm-up trains: the CLIP tower's layers that are read and the projection to the decoder."""
    return [p for p in image_embedding.parameters() if p.requires_grad]


def head_width(image_embedding: nn.Module) -> int:
    """Features per view that ``head_features`` gives: one decoder-width token per grid cell."""
    return image_embedding.img_projection[-1].out_features * min(image_embedding.merged, HEAD_GRID) ** 2


def head_features(image_embedding: nn.Module, crops: torch.Tensor) -> torch.Tensor:
    """What the head reads: each view's image tokens as the decoder gets them (without the separators), in
    their grid (pooled to at most ``HEAD_GRID`` cells per side), one row of ``cells x width`` per view."""
    tokens = image_embedding.project_crops(crops)  # (n, m*m, width)
    m = image_embedding.merged
    cells = min(m, HEAD_GRID)
    if cells < m:
        grid = tokens.transpose(1, 2).reshape(len(tokens), -1, m, m)
        tokens = nn.functional.adaptive_avg_pool2d(grid, cells).flatten(2).transpose(1, 2)
    return tokens.flatten(1)


def global_views(split: data.EncodedSplit) -> torch.Tensor:
    """The global view (crop 0) of every encoded example."""
    if split.keeps_pixels:
        return split.pixel_values[:, 0]
    return torch.stack([split.pixels(i)[0] for i in range(len(split))])
