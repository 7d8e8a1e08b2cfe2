"""Training data: a DATASET dir read through ``datagen.reader``, encoded once, batched by length.

Images are decoded and run through the processor's HD transform once per run; the tensors are kept in memory
and in RUN/.cache (safetensors), so every epoch and a ``--resume`` reuse them. A split whose processed images
would not fit the memory allowed (``pixel_bytes``: the full-size model's 17 crops of 336 px take 22 MiB per
image) keeps only its text and image sizes; each image is then read and transformed again whenever it is
batched (``image_source``), by background threads in training. Batches group examples of
similar length so padding stays small; the order is a pure function of (seed, epoch), which makes the position
in the data a function of the step alone: resuming needs nothing but the step, and every DDP process derives
the same plan and takes its own slice of each global batch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from contracts import run_layout as names
from contracts.dataset import layout
from contracts.dataset.reader import IMAGE_PATH, available_splits, load_image, read_dataset, read_split
from contracts.errors import UserError
from contracts.task import answers_of
from finetune.config import TrainConfig

TRAIN, VALIDATION = "train", "validation"


def read_training_splits(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The train and validation splits (test is left alone: it belongs to evaluation).

    Raises:
        UserError: the dir is missing, malformed, or lacks one of the two splits, or a split is empty.
    """
    frames = read_dataset(data_dir, splits=[TRAIN, VALIDATION])
    for split, frame in frames.items():
        if frame.empty:
            raise UserError(
                f"the {split!r} split of {data_dir} has no rows: regenerate the dataset with more rows"
            )
    return frames


def dataset_record(data_dir: str | Path, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """What RUN/dataset.json says about the data: where, which content (fingerprint), how many rows."""
    root = Path(data_dir).expanduser().absolute()
    counts = {s: int(len(f)) for s, f in frames.items()}
    for split in available_splits(root):
        if split not in counts:
            counts[split] = len(read_split(root, split))
    return {"path": str(root), "fingerprint": layout.dataset_fingerprint(root), "rows": counts}


# -- encoding and its cache ------------------------------------------------------------------------------


@dataclass
class EncodedSplit:
    """Encoded examples of one split, as flat tensors (cheap to cache and to index)."""

    input_ids: torch.Tensor  # (sum of lengths,) with -1 image placeholders
    labels: torch.Tensor  # (sum of lengths,)
    offsets: torch.Tensor  # (N + 1,) start of each example in input_ids/labels
    image_sizes: torch.Tensor  # (N, 2)
    pixel_values: torch.Tensor | None = None  # (N, crops, 3, c, c); None: made per example by ``source``
    source: Callable[[int], torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def keeps_pixels(self) -> bool:
        return self.pixel_values is not None

    def pixels(self, i: int) -> torch.Tensor:
        """(crops, 3, c, c) of example ``i``: kept, or made now by ``source``."""
        if self.pixel_values is not None:
            return self.pixel_values[i]
        if self.source is None:
            raise ValueError("this split keeps no pixels and has no image source to make them")
        return self.source(i)

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    @property
    def lengths(self) -> list[int]:
        return (self.offsets[1:] - self.offsets[:-1]).tolist()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return {
            "input_ids": self.input_ids[a:b],
            "labels": self.labels[a:b],
            "pixel_values": self.pixels(i),
            "image_sizes": self.image_sizes[i],
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        names = ("input_ids", "labels", "offsets", "pixel_values", "image_sizes")
        return {k: v for k in names if (v := getattr(self, k)) is not None}


def pixel_bytes(rows: int, image_processor: Any) -> int:
    """Memory the processed images of ``rows`` examples take as fp32: ``num_crops + 1`` crops each, the
    most ``image_processor``'s HD transform gives (what a kept split holds)."""
    crop = image_processor.crop_size
    return rows * (image_processor.num_crops + 1) * 3 * crop * crop * 4


def fits_in_memory(rows: int, image_processor: Any, gib: float) -> bool:
    """Whether a split of ``rows`` keeps its processed images within ``gib`` (``--pixel-memory-gib``)."""
    return pixel_bytes(rows, image_processor) <= gib * 2**30


def image_source(
    frame: pd.DataFrame, transform: Callable[[Any], dict[str, torch.Tensor]]
) -> Callable[[int], torch.Tensor]:
    """Example ``i`` -> its image read from disk and HD-transformed again (``transform``: the image
    processor, called on a list of one image): what ``encode_split`` would have kept."""
    paths = list(frame[IMAGE_PATH])

    def pixels(i: int) -> torch.Tensor:
        return transform([load_image(paths[i])])["pixel_values"][0]

    return pixels


def encode_split(
    frame: pd.DataFrame,
    answers: Sequence[str],
    encode_example: Callable[..., dict[str, torch.Tensor]],
    *,
    progress: Callable[[Iterable], Iterable] = iter,
    keep_pixels: bool = True,
) -> EncodedSplit:
    """Run every row (image + answer) through the processor and pack the results; with ``keep_pixels``
    False, the text alone (``encode_example(..., with_pixels=False)``) and no pixels."""
    ids, labels, pixels, sizes, offsets = [], [], [], [], [0]
    for path, answer in progress(list(zip(frame[IMAGE_PATH], answers, strict=True))):
        enc = encode_example(load_image(path), answer, with_pixels=keep_pixels)
        if keep_pixels:
            pixels.append(enc["pixel_values"])
        ids.append(enc["input_ids"].to(torch.long))
        labels.append(enc["labels"].to(torch.long))
        sizes.append(torch.as_tensor(enc["image_sizes"], dtype=torch.long))
        offsets.append(offsets[-1] + int(ids[-1].shape[0]))
    stacked = None
    if pixels:
        most = max(p.shape[0] for p in pixels)
        stacked = pixels[0].new_zeros((len(pixels), most, *pixels[0].shape[1:]))  # no second full copy
        for i, p in enumerate(pixels):
            stacked[i, : p.shape[0]] = p
            pixels[i] = None
    return EncodedSplit(
        input_ids=torch.cat(ids),
        labels=torch.cat(labels),
        offsets=torch.tensor(offsets, dtype=torch.long),
        image_sizes=torch.stack(sizes),
        pixel_values=stacked,
    )


def cache_key(fingerprint: str, split: str, processor_files: dict[str, bytes]) -> str:
    """Identifies an encoding: the dataset content, the split and the processor (its saved files)."""
    digest = hashlib.sha256(f"{fingerprint}\0{split}\0".encode())
    for name in sorted(processor_files):
        digest.update(name.encode() + b"\0" + processor_files[name])
    return digest.hexdigest()[:20]


def load_or_encode(cache_dir: Path | None, key: str, encode: Callable[[], EncodedSplit]) -> EncodedSplit:
    """The cached encoding under ``key`` if present, else ``encode()`` (and cache it)."""
    if cache_dir is None:
        return encode()
    path = cache_dir / f"{key}.safetensors"
    if path.is_file():
        try:
            return EncodedSplit(**load_file(path))
        except (OSError, RuntimeError, TypeError):
            path.unlink(missing_ok=True)  # a damaged cache is rebuilt, never trusted
    encoded = encode()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    save_file(encoded.tensors(), tmp)
    tmp.replace(path)
    return encoded


# -- batching --------------------------------------------------------------------------------------------


def background_workers(world_size: int = 1) -> int:
    """Threads that make batches of a split without kept pixels: the machine's cores shared among the
    processes, at most 8 each."""
    return max(1, min(8, (os.cpu_count() or 2) // max(1, world_size)))


class Prefetcher:
    """Makes ``make(key)`` for each of ``keys``, in order, ahead of use on ``pool``'s threads: ``get(key)``
    returns the next one (waiting for it if need be). ``make`` must not depend on the order it runs in."""

    def __init__(
        self, make: Callable[[int], Any], keys: Iterable[int], pool: ThreadPoolExecutor, ahead: int
    ) -> None:
        self._make, self._keys, self._pool = make, iter(keys), pool
        self._queue: deque[tuple[int, Future]] = deque()
        for _ in range(max(1, ahead)):
            self._submit()

    def _submit(self) -> None:
        key = next(self._keys, None)
        if key is not None:
            self._queue.append((key, self._pool.submit(self._make, key)))

    def get(self, key: int) -> Any:
        if not self._queue or self._queue[0][0] != key:
            raise ValueError(f"prefetched {self._queue[0][0] if self._queue else 'nothing'}, asked for {key}")
        _, future = self._queue.popleft()
        self._submit()
        return future.result()

    def cancel(self) -> None:
        for _, future in self._queue:
            future.cancel()
        self._queue.clear()


class LengthGroupedBatches:
    """Step batches of similar length, in an order fixed by (seed, epoch), split for accumulation and DDP.

    Each epoch: shuffle all examples, cut the permutation into windows of ``group`` step batches, sort each
    window by length (longest first), cut it into step batches of ``batch_size * grad_accum * world_size``
    examples and shuffle their order. A step batch is cut into ``grad_accum * world_size`` contiguous
    chunks: micro-batch ``a`` of process ``r`` is chunk ``a * world_size + r``. Every process derives the same
    plan, so any split of the same global batch (one process with a big batch, accumulation, several
    processes) sees the same examples in each optimizer step.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        grad_accum: int = 1,
        world_size: int = 1,
        rank: int = 0,
        group: int = 16,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of {world_size}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.seed = seed
        self.chunks = grad_accum * world_size  # micro-batches per step batch, all processes together
        self.step_batch = batch_size * self.chunks
        self.grad_accum, self.world_size, self.rank = grad_accum, world_size, rank
        self.group = group
        self._cached: tuple[int, list[list[int]]] = (-1, [])

    def __len__(self) -> int:
        """Optimizer steps per epoch: a last, partial step batch is dropped (other examples each epoch)."""
        return max(1, len(self.lengths) // self.step_batch)

    def step_batches(self, epoch: int) -> list[list[int]]:
        """All step batches of ``epoch`` (the same list in every process)."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(len(self.lengths), generator=gen)
        window = self.step_batch * self.group
        batches: list[list[int]] = []
        for start in range(0, len(perm), window):
            chunk = perm[start : start + window]
            # stable sort: ties keep the shuffled order, so the plan depends on the seed alone
            chunk = chunk[torch.sort(self.lengths[chunk], descending=True, stable=True).indices].tolist()
            batches += [chunk[i : i + self.step_batch] for i in range(0, len(chunk), self.step_batch)]
        if len(batches) > 1 and len(batches[-1]) < self.step_batch:
            # dropped whatever the split, so every split of the same global batch makes the same plan
            batches.pop()
        order = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in order]

    def micro_batches(self, step: int) -> tuple[int, list[list[int]]]:
        """(epoch, this process's micro-batches) of optimizer step ``step`` (0-based)."""
        epoch, k = divmod(step, len(self))
        if self._cached[0] != epoch:
            self._cached = (epoch, self.step_batches(epoch))
        batch = self._cached[1][k]
        n = len(batch)
        # near-equal contiguous chunks (exactly batch_size each for a full step batch)
        bounds = [i * n // self.chunks for i in range(self.chunks + 1)]
        mine = [a * self.world_size + self.rank for a in range(self.grad_accum)]
        return epoch, [batch[bounds[c] : bounds[c + 1]] for c in mine if bounds[c + 1] > bounds[c]]


# -- augmentation -----------------------------------------------------------------------------------------


def flip_draws(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Which of ``n`` training examples are mirrored in ``epoch``: half of them, fixed by (seed, epoch)."""
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch + 7_919)
    return torch.rand(n, generator=gen) < 0.5


def mirror_crops(pixel_values: torch.Tensor, image_size: torch.Tensor, crop: int) -> torch.Tensor:
    """HD crops of the horizontally mirrored image: every crop flipped, sub-crops reversed within each row.

    Args:
        pixel_values: (crops, 3, c, c); [0] the global view, then the h x w sub-crops row-major, then blanks.
        image_size: the padded (height, width) in pixels.
        crop: the crop side c.
    """
    h, w = int(image_size[0]) // crop, int(image_size[1]) // crop
    out = pixel_values.flip(-1)
    order = torch.arange(pixel_values.shape[0])
    grid = order[1 : 1 + h * w].view(h, w).flip(1).reshape(-1)
    order[1 : 1 + h * w] = grid
    return out[order]


def _translate(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``image`` (3, H, W) moved by (dx, dy) pixels; the uncovered border repeats the edge pixels."""
    if dx == 0 and dy == 0:
        return image
    h, w = image.shape[-2:]
    px, py = abs(dx), abs(dy)
    padded = torch.nn.functional.pad(image, (px, px, py, py), mode="replicate")
    return padded[:, py - dy : py - dy + h, px - dx : px - dx + w]


def shift_crops(
    pixel_values: torch.Tensor, image_size: torch.Tensor, crop: int, shift: torch.Tensor
) -> torch.Tensor:
    """HD crops of the image translated by ``shift`` (fractions of its width and height): the global view and
    the sub-crop grid (reassembled, moved, cut again) are moved alike, with edge pixels filling the gap.

    Args are those of ``mirror_crops``, plus ``shift`` (2,) = (x, y).
    """
    h, w = int(image_size[0]) // crop, int(image_size[1]) // crop
    fx, fy = float(shift[0]), float(shift[1])
    out = pixel_values.clone()
    out[0] = _translate(pixel_values[0], round(fx * crop), round(fy * crop))
    if h * w:
        c = pixel_values.shape[1]
        grid = (
            pixel_values[1 : 1 + h * w]
            .view(h, w, c, crop, crop)
            .permute(2, 0, 3, 1, 4)
            .reshape(c, h * crop, w * crop)
        )
        moved = _translate(grid, round(fx * w * crop), round(fy * h * crop))
        out[1 : 1 + h * w] = (
            moved.view(c, h, crop, w, crop).permute(1, 3, 0, 2, 4).reshape(h * w, c, crop, crop)
        )
    return out


def training_examples(
    split: EncodedSplit, indices: Sequence[int], *, seed: int, epoch: int, crop: int, mirror: bool = False
) -> list[dict[str, torch.Tensor]]:
    """Examples ``indices`` of ``split``; with ``mirror``, ``flip_draws``'s picks mirrored (``crop``: the HD
    crop side). The draws are fixed by (seed, epoch, example), so a resumed or multi-process run draws the
    same ones."""
    examples = [split[i] for i in indices]
    if not mirror:
        return examples
    flips = flip_draws(len(split), seed, epoch)
    return [
        {**e, "pixel_values": mirror_crops(e["pixel_values"], e["image_sizes"], crop)} if flips[i] else e
        for i, e in zip(indices, examples, strict=True)
    ]


def encode_splits(
    cfg: TrainConfig, run: Path, frames: dict[str, pd.DataFrame], processor: Any, dataset: dict, procs
) -> tuple[EncodedSplit, EncodedSplit]:
    """Train and validation splits encoded once (RUN/.cache); the main process writes the cache first.

    A split keeps its processed images when they fit ``--pixel-memory-gib``; otherwise it keeps the text and
    image sizes, and its images are transformed again whenever they are batched (``image_source``)."""
    files = processor_files(processor)
    images = processor.image_processor
    disable = True if cfg.quiet or not procs.is_main else None  # None: a bar on terminals only
    encoded = []
    threads = torch.get_num_threads()
    # Per-image work is small tensors: more threads only add synchronisation (10x slower on a busy machine).
    torch.set_num_threads(1)
    try:
        for split in (TRAIN, VALIDATION):
            frame = frames[split]
            keep = fits_in_memory(len(frame), images, cfg.pixel_memory_gib)

            def encode(frame: pd.DataFrame = frame, split: str = split, keep: bool = keep) -> EncodedSplit:
                def bar(items: Iterable) -> Iterable:
                    return tqdm(items, desc=f"encode {split}", unit="img", disable=disable, leave=False)

                answers = answers_of(frame)
                return encode_split(frame, answers, processor.encode_example, progress=bar, keep_pixels=keep)

            key = cache_key(dataset["fingerprint"], split, files) + ("" if keep else "-text")
            if procs.is_main:
                encoded.append(load_or_encode(run / names.CACHE_DIR, key, encode))
            procs.barrier()
            if not procs.is_main:
                encoded.append(load_or_encode(run / names.CACHE_DIR, key, encode))
    finally:
        torch.set_num_threads(threads)
    for split, enc in zip((TRAIN, VALIDATION), encoded, strict=True):
        if not enc.keeps_pixels:
            enc.source = image_source(frames[split], images)
    return encoded[0], encoded[1]


def processor_files(processor: Any) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        processor.save_pretrained(tmp)
        return {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
