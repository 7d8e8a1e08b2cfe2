"""Cached raster ingredients of a product image: backdrops, material textures, pattern overlays, fills.

Every raster here is a deterministic function of its key (texture kind, colour, pattern kind, image size) and
is built from its own fixed seed, so caching never changes bytes: a worker that meets a key first or last
renders the same image. Caches are per process and bounded (fills by bytes), so memory stays flat in rows.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Enough for every fill the built-in catalogue meets at 336 px (about 260): a smaller cache thrashes, and a
# miss costs 2-3 ms, several times the rest of a row.
_FILL_CACHE_BYTES = 128 * 1024 * 1024

ARCHIVE_BEIGE = (203, 180, 140)
CHECK_BLACK = (34, 32, 32)
CHECK_RED = (170, 36, 42)
CHECK_WHITE = (236, 232, 224)


def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def _noise(size: int, cells: int, seed: int) -> np.ndarray:
    """Smooth value noise in [-0.5, 0.5] with about ``cells`` blobs across the image."""
    cells = max(2, min(cells, size))
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    big = small.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0 - 0.5


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x, y


@lru_cache(maxsize=64)
def texture_image(kind: str, size: int) -> Image.Image:
    """The texture as an L image: value 128 means x1.0, so textures can brighten as well as darken."""
    return Image.fromarray(np.clip(texture(kind, size) * 128.0, 0, 255).astype(np.uint8), "L")


def texture(kind: str, size: int) -> np.ndarray:
    """Luminance multiplier (about 1.0) of a material texture: the coarse cue that survives downsampling."""
    x, y = _grid(size)
    u, v = x / size, y / size
    s = _seed("texture", kind, size)
    if kind == "twill":  # fine diagonal ribs, coarse enough to show at 64 px
        period = max(3.0, size / 20)
        t = 1 + 0.07 * np.sign(np.sin(2 * np.pi * (x + y) / period)) + 0.06 * (0.5 - v)
    elif kind == "fuzzy":
        t = 1 + 0.22 * _noise(size, 7, s) + 0.06 * _noise(size, size // 5, s + 1)
    elif kind == "coarse":  # heathered wool: speckle of a few pixels at 64 px
        t = 1 + 0.26 * _noise(size, max(4, size // 16), s) + 0.06 * _noise(size, 12, s + 1)
    elif kind == "smooth":
        d = (u - 0.32) ** 2 + (v - 0.28) ** 2
        t = 0.9 + 0.48 * np.exp(-d / 0.03) - 0.14 * v + 0.03 * _noise(size, size // 3, s)
    elif kind == "matte":
        t = 0.9 + 0.22 * _noise(size, 9, s) + 0.06 * _noise(size, size // 5, s + 1)
    elif kind == "glossy":
        t = (
            1
            + 0.28 * np.sin(2 * np.pi * y / (size / 4.5))
            + 0.03 * np.sign(np.sin(2 * np.pi * x / (size / 30)))
        )
    elif kind == "flat":
        t = 1 + 0.02 * _noise(size, size // 3, s)
    elif kind == "sheen":
        t = 1 + 0.3 * np.sin(2 * np.pi * (x + 0.6 * y) / (size / 2.2))
    elif kind == "denim":
        period = max(3.0, size / 16)
        t = 1 + 0.12 * np.sign(np.sin(2 * np.pi * (x - y) / period)) + 0.12 * _noise(size, 6, s)
    elif kind == "curly":
        n = _noise(size, max(4, size // 9), s)
        t = 0.9 + 0.55 * np.abs(n)
    elif kind == "canvas":
        period = max(3.0, size / 20)
        t = 1 + 0.05 * (np.sign(np.sin(2 * np.pi * x / period)) + np.sign(np.sin(2 * np.pi * y / period)))
    elif kind == "coated":
        t = 1.04 - 0.08 * v + 0.02 * _noise(size, size // 4, s)
    elif kind == "acetate":
        d = (u - 0.3) ** 2 + (v - 0.3) ** 2
        t = 0.95 + 0.45 * np.exp(-d / 0.01)
    elif kind == "metallic":
        t = 1 + 0.28 * np.sin(2 * np.pi * x / (size / 3.5)) + 0.1 * (0.5 - v)
    elif kind == "liquid":
        t = 1.12 - 0.3 * v
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return t.astype(np.float32)


@lru_cache(maxsize=32)
def pattern_layers(kind: str, size: int) -> tuple[tuple[Image.Image, tuple[int, int, int] | None], ...]:
    """The pattern as (alpha mask, colour or None for 'darker base') layers to paste over the fill."""
    return tuple(
        (Image.fromarray(np.clip(mask * strength * 255, 0, 255).astype(np.uint8), "L"), colour)
        for mask, colour, strength in _pattern_masks(kind, size)
    )


def _pattern_masks(kind: str, size: int) -> tuple[tuple[np.ndarray, tuple[int, int, int] | None, float], ...]:
    """(mask in [0, 1], colour or None for 'darker base', strength) layers of a pattern, coarse scale."""
    x, y = _grid(size)
    line = max(1.0, size / 150)
    if kind in ("check", "giant_check", "house_check"):
        period = size / (3.5 if kind == "giant_check" else 7.0)
        band = period * 0.3
        vx = ((x % period) < band).astype(np.float32)
        hy = ((y % period) < band).astype(np.float32)
        both = vx * hy
        thin_w = (np.abs((x % period) - band / 2) < line / 2) | (np.abs((y % period) - band / 2) < line / 2)
        off = period * 0.62
        thin_r = (np.abs((x % period) - off) < line / 2) | (np.abs((y % period) - off) < line / 2)
        dark = np.clip(vx + hy, 0, 1)
        if kind == "house_check":
            return (
                (dark, CHECK_BLACK, 0.55),
                (both, CHECK_BLACK, 0.35),
                (thin_w.astype(np.float32), CHECK_WHITE, 0.85),
                (thin_r.astype(np.float32), CHECK_RED, 0.9),
            )
        return (
            (dark, None, 0.35),
            (both, None, 0.3),
            (thin_w.astype(np.float32), CHECK_WHITE, 0.6),
            (thin_r.astype(np.float32), CHECK_RED, 0.7),
        )
    if kind == "monogram":
        period = size / 8.0
        row = np.floor(y / period)
        xs = (x + (row % 2) * period / 2) % period - period / 2
        ys = y % period - period / 2
        r = period * 0.26
        diamond = ((np.abs(xs) + np.abs(ys)) < r).astype(np.float32)
        hole = ((np.abs(xs) + np.abs(ys)) < r * 0.45).astype(np.float32)
        return ((diamond - hole, ARCHIVE_BEIGE, 0.9),)
    if kind == "stripe":
        period = size / 4.0
        p = x % period
        w = max(1.0, size / 70)
        return (
            ((p < w).astype(np.float32), ARCHIVE_BEIGE, 0.95),
            (((p >= w) & (p < 2 * w)).astype(np.float32), CHECK_BLACK, 0.95),
            (((p >= 2 * w) & (p < 3 * w)).astype(np.float32), CHECK_RED, 0.95),
        )
    raise ValueError(f"unknown pattern {kind!r}")


class _FillCache:
    """Bounded LRU of fill images keyed by (texture, rgb, pattern kind, size)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple, Image.Image] = OrderedDict()
        self.bytes = 0

    def get(self, key: tuple) -> Image.Image:
        img = self.items.get(key)
        if img is not None:
            self.items.move_to_end(key)
            return img
        img = _make_fill(*key)
        self.items[key] = img
        self.bytes += img.width * img.height * 4  # Pillow keeps RGB as 4 bytes a pixel
        while self.bytes > self.max_bytes and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.width * old.height * 4
        return img


def _make_fill(texture_kind: str, rgb: tuple[int, int, int], pattern_kind: str, size: int) -> Image.Image:
    base = ARCHIVE_BEIGE if pattern_kind == "house_check" else rgb
    t = texture_image(texture_kind, size)
    img = Image.merge("RGB", [t.point([min(255, (v * c + 64) // 128) for v in range(256)]) for c in base])
    if pattern_kind:
        lum = 0.299 * base[0] + 0.587 * base[1] + 0.114 * base[2]
        darker = tuple(int(c * 0.45) for c in base) if lum > 70 else tuple(min(255, c + 90) for c in base)
        for mask, colour in pattern_layers(pattern_kind, size):
            img.paste(darker if colour is None else colour, (0, 0), mask)
    return img


_FILLS = _FillCache(_FILL_CACHE_BYTES)


def fill(texture_kind: str, rgb: tuple[int, int, int], pattern_kind: str, size: int) -> Image.Image:
    """The body fill: material texture in its colour with the pattern drawn over it (cached)."""
    return _FILLS.get((texture_kind, tuple(rgb), pattern_kind, size))


@lru_cache(maxsize=128)
def background(variant: int, light: float, size: int) -> Image.Image:
    """Studio backdrop: a vertical gradient between two light tones with a soft vignette, lit by ``light``."""
    lut = [min(255, int(round(i * light))) for i in range(256)] * 3
    return _backdrop(variant, size).point(lut)


@lru_cache(maxsize=32)
def _backdrop(variant: int, size: int) -> Image.Image:
    rng = np.random.default_rng(_seed("background", variant))
    top = 226 + rng.integers(0, 24, 3)
    bottom = top - 12 - rng.integers(0, 20, 3)
    x, y = _grid(size)
    v = (y / size)[:, :, None]
    img = top[None, None, :] * (1 - v) + bottom[None, None, :] * v
    d = ((x / size - 0.5) ** 2 + (y / size - 0.45) ** 2)[:, :, None]
    img = img * (1 - 0.22 * d)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


@lru_cache(maxsize=8)
def lattice(size: int) -> Image.Image:
    """Quilting: diagonal lines both ways, as an L mask."""
    x, y = _grid(size)
    period = size / 8.0
    w = max(1.0, size / 110)
    on = ((x + y) % period < w) | ((x - y) % period < w)
    return Image.fromarray((on * 255).astype(np.uint8), "L").convert("1", dither=Image.Dither.NONE)


@lru_cache(maxsize=1024)
def shadow(width: int, height: int) -> Image.Image:
    """The contact shadow resized to ``width`` x ``height`` (L mask); the sizes a run meets are few."""
    return shadow_sprite().resize((width, height))


@lru_cache(maxsize=2)
def shadow_sprite() -> Image.Image:
    """A soft elliptical contact shadow (L mask), resized per object."""
    sprite = Image.new("L", (128, 40), 0)
    ImageDraw.Draw(sprite).ellipse((12, 8, 116, 32), fill=150)
    return sprite.filter(ImageFilter.GaussianBlur(6))
