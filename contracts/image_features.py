"""A cheap image embedding (numpy only, no learned weights): the features of evaluation's nearest-neighbour
and probe baselines and of `datagen compare`'s image probes (real-vs-synthetic detection, category from
image), so both commands see images the same way.

Per image, 275 numbers: an 8×8 colour thumbnail (what is where), a 4×4×4 joint RGB histogram (which colours),
channel means and standard deviations, and gradient statistics of a 32×32 grey version (how busy, which edge
directions). Enough to tell a red scarf from a beige trench coat; nowhere near what a vision model sees,
which is the point of a baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

THUMB = 8
HIST_BINS = 4
GREY = 32
ORIENT_BINS = 8
FEATURE_DIM = THUMB * THUMB * 3 + HIST_BINS**3 + 6 + 4 + ORIENT_BINS + 1


def embed_image(image: Image.Image) -> np.ndarray:
    """The feature vector (float32, ``FEATURE_DIM``) of one RGB image."""
    rgb = image.convert("RGB")
    thumb = np.asarray(rgb.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32) / 255.0
    small = (
        np.asarray(rgb.resize((GREY, GREY), Image.Resampling.BOX), dtype=np.float32) / 255.0
    )  # [32, 32, 3]
    pixels = small.reshape(-1, 3)
    q = np.minimum((pixels * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    joint = q[:, 0] * HIST_BINS * HIST_BINS + q[:, 1] * HIST_BINS + q[:, 2]
    hist = np.bincount(joint, minlength=HIST_BINS**3).astype(np.float32) / len(joint)
    grey = small @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    dx = np.diff(grey, axis=1)[:-1, :]
    dy = np.diff(grey, axis=0)[:, :-1]
    magnitude = np.hypot(dx, dy)
    angle = np.mod(np.arctan2(dy, dx), np.pi)  # edge orientation, sign-free
    orient = np.bincount(
        np.minimum((angle / np.pi * ORIENT_BINS).astype(np.int64), ORIENT_BINS - 1).ravel(),
        weights=magnitude.ravel(),
        minlength=ORIENT_BINS,
    ).astype(np.float32)
    orient /= max(float(orient.sum()), 1e-6)
    stats = np.array(
        [
            np.abs(dx).mean(),
            np.abs(dy).mean(),
            grey.std(),
            (magnitude > 0.1).mean(),
            rgb.width / max(rgb.height, 1) / 4.0,  # aspect ratio, scaled near the other features
        ],
        dtype=np.float32,
    )
    return np.concatenate(
        [thumb.ravel(), hist, pixels.mean(axis=0), pixels.std(axis=0), stats[:4], orient, stats[4:]]
    ).astype(np.float32)


def embed_images(
    paths: Sequence[str],
    load: Callable[[str], Image.Image],
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Stack ``embed_image(load(path))`` for every path: an ``(n, FEATURE_DIM)`` float32 matrix."""
    out = np.zeros((len(paths), FEATURE_DIM), dtype=np.float32)
    for i, path in enumerate(paths):
        out[i] = embed_image(load(path))
        if progress is not None:
            progress(1)
    return out


def standardize(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale every column by the training mean and standard deviation (constant columns left at zero)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 1e-6] = 1.0
    return [(m - mean) / std for m in (train, *others)]
