"""Render one product image from its latent attributes: a pure function of (latent, profile, size).

Every title word has a cue that survives downsampling to 64-112 px:

- category / noun: the silhouette (``render_shapes``), with kids' items in smaller, rounder boxes;
- size word: the object's scale (Mini/Small/Medium/Large, bottle ml) or its length (Short/Long/Cropped...),
  with pose jitter kept to +-4% so the classes stay apart;
- pattern: check bands, giant check, house check (beige/black/red), monogram diamonds, vertical stripes;
- material: texture (twill, gloss bands, leather highlight, curls...) and its palette of colours;
- trim ("and Leather"): the trim parts (soles, handles, borders) in the trim's fixed colour;
- line / model name: an emblem of a distinct shape at a fixed anchor (bag flap, chest, shoe side);
- detail: quilting lattice, belt band with buckle, hood, studs, crystals.

Pose (rotation, scale, offset), backdrop and lighting vary per row but come from the latent too.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from datagen.catalogue.profile import CatalogueProfile
from datagen.catalogue.shapes import SHAPES, ellipse
from datagen.render import textures

JPEG_QUALITY = 90
EMBLEM_SCALE = 1.8  # emblems drawn larger than their nominal size so line names survive 64-px downsampling

GOLD = (212, 176, 96)
SILVER = (196, 200, 208)
EMBLEM_EDGE = (52, 40, 22)
LIGHT = (236, 233, 226)
GLASS = (214, 224, 230)
LENS = (34, 40, 46)


def _unit_emblem(kind: str) -> list[tuple[float, float]]:
    """Emblem outline in a unit circle (radius 1)."""
    if kind in ("circle", "ring"):
        return list(ellipse(0, 0, 1, 1, 20))
    if kind == "diamond":
        return [(0, -1), (0.75, 0), (0, 1), (-0.75, 0)]
    if kind == "triangle":
        return [(0, -1), (0.95, 0.8), (-0.95, 0.8)]
    if kind == "square":
        return [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    if kind == "star":
        return [
            (
                math.cos(math.radians(-90 + 36 * i)) * (1 if i % 2 == 0 else 0.45),
                math.sin(math.radians(-90 + 36 * i)) * (1 if i % 2 == 0 else 0.45),
            )
            for i in range(10)
        ]
    if kind == "cross":
        a, b = 0.3, 1.0
        return [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ]
    if kind == "bar":
        return [(-1, -0.4), (1, -0.4), (1, 0.4), (-1, 0.4)]
    if kind == "hexagon":
        return [(math.cos(math.radians(60 * i)), math.sin(math.radians(60 * i))) for i in range(6)]
    if kind == "shield":
        return [(-0.85, -0.9), (0.85, -0.9), (0.85, 0.15), (0, 1), (-0.85, 0.15)]
    if kind == "crescent":
        outer = [(math.cos(math.radians(a)), math.sin(math.radians(a))) for a in range(40, 330, 15)]
        inner = [
            (0.35 + 0.7 * math.cos(math.radians(a)), 0.7 * math.sin(math.radians(a)))
            for a in range(300, 50, -15)
        ]
        return outer + inner
    if kind == "chevron":
        return [(-1, -0.6), (0, 0.2), (1, -0.6), (1, 0.1), (0, 0.9), (-1, 0.1)]
    raise ValueError(f"unknown emblem {kind!r}")


_EMBLEMS: dict[str, list[tuple[float, float]]] = {}


def _emblem(kind: str) -> list[tuple[float, float]]:
    if kind not in _EMBLEMS:
        _EMBLEMS[kind] = _unit_emblem(kind)
    return _EMBLEMS[kind]


def _scaled(rgb, f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, c * f))) for c in rgb)  # type: ignore[return-value]


def _contrast(rgb, f_dark: float) -> tuple[int, int, int]:
    """A darker shade, or a lighter one for colours already near black (so parts stay visible)."""
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    if lum < 60:
        return tuple(int(min(255, c + (1 - f_dark) * 140)) for c in rgb)  # type: ignore[return-value]
    return _scaled(rgb, f_dark)


def render_product(latent: dict, profile: CatalogueProfile, size: int) -> Image.Image:
    """Draw the product described by ``latent`` (``datagen.synth.sample``) as a ``size`` x ``size`` image."""
    vocab = profile.vocabulary
    shape = SHAPES[latent["silhouette"]]
    pose = latent["pose"]
    s_word = vocab["sizes"].get(latent["size"], {"scale": 1.0, "length": 1.0})
    material = vocab["materials"][latent["material"]]
    rgb = tuple(vocab["colours"][latent["colour"]])
    pattern_kind = vocab["patterns"][latent["pattern"]]["kind"] if latent["pattern"] else ""
    detail_kind = vocab["details"][latent["detail"]]["kind"] if latent["detail"] else ""
    trim_rgb = tuple(vocab["colours"][vocab["trims"][latent["trim"]]["colour"]]) if latent["trim"] else None
    metal = SILVER if latent["colour"] == "Silver" else GOLD

    S = size
    w = min(0.98, shape.aspect[0] * s_word["scale"] * pose["scale"])
    h = min(0.98, shape.aspect[1] * s_word["scale"] * s_word["length"] * pose["scale"])
    cx = 0.5 + pose["dx"] * (1 - w) / 2
    cy = 0.5 + pose["dy"] * (1 - h) / 2
    theta = math.radians(pose["rotation"])
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    unit = min(w, h) * S  # pixels per unit of "relative to the box's short side"

    def tf(points) -> list[tuple[float, float]]:
        out = []
        for u, v in points:
            px, py = (u - 0.5) * w, (v - 0.5) * h
            out.append(((cx + px * cos_t - py * sin_t) * S, (cy + px * sin_t + py * cos_t) * S))
        return out

    canvas = textures.background(pose["background"], pose["light"], S).copy()

    # soft contact shadow under the object
    sw, sh = max(2, int(w * S * 0.95)), max(2, int(max(0.035, w * 0.14) * S))
    sprite = textures.shadow(sw, sh)
    sx, sy = int((cx - w * 0.475) * S), int((cy + h / 2) * S - sh * 0.55)
    canvas.paste((40, 38, 36), (sx, sy, sx + sw, sy + sh), sprite)

    # body: material texture + pattern through the silhouette mask
    body_polys = [tf(pts) for role, pts in shape.parts if role == "body"]
    # Masks are mode "1": every mask here is drawn hard-edged (0 or 255), and Pillow pastes through a
    # 1-bit mask by copying pixels, about 5x faster than the blend an "L" mask costs (same pixels).
    mask = Image.new("1", (S, S), 0)
    mdraw = ImageDraw.Draw(mask)
    for poly in body_polys:
        mdraw.polygon(poly, fill=255)
    box = mask.getbbox()
    if box:  # paste only the object's bounding box: most of the canvas is backdrop
        canvas.paste(textures.fill(material["texture"], rgb, pattern_kind, S).crop(box), box, mask.crop(box))

    draw = ImageDraw.Draw(canvas)
    base = textures.ARCHIVE_BEIGE if pattern_kind == "house_check" else rgb
    if shape.quilted or detail_kind == "quilted":
        canvas.paste(_contrast(base, 0.55), (0, 0), ImageChops.logical_and(textures.lattice(S), mask))

    colours = {
        "shade": _contrast(base, 0.78),
        "dark": _contrast(base, 0.5),
        "light": LIGHT,
        "metal": metal,
        "trim": trim_rgb if trim_rgb is not None else _contrast(base, 0.62),
        "glass": GLASS,
        "lens": LENS,
        "body": base,
    }
    for role, pts in shape.parts:
        if role != "body":
            draw.polygon(tf(pts), fill=colours[role])
    line_px = max(1, int(round(S / 170)))
    edge = _contrast(base, 0.42)
    for poly in body_polys:
        draw.line(poly + poly[:1], fill=edge, width=line_px)
    for role, pts, width in shape.strokes:
        draw.line(tf(pts), fill=colours[role], width=max(1, int(round(width * unit))), joint="curve")
    for role, (u, v), r in shape.dots:
        (px, py), rr = tf([(u, v)])[0], max(1.0, r * unit)
        draw.ellipse((px - rr, py - rr, px + rr, py + rr), fill=colours[role])

    if detail_kind == "hooded" and shape.neck is not None:
        # the hood lies on the shoulders, inside the box (a raised one could leave the frame): a large
        # rounded flap in the body's fill with a dark opening, drawn over collars and lapels
        nx, ny, nw = shape.neck
        hood = tf(ellipse(nx, ny + 0.07, nw * 1.45, 0.1, 20))
        hood_mask = Image.new("1", (S, S), 0)
        ImageDraw.Draw(hood_mask).polygon(hood, fill=255)
        canvas.paste(textures.fill(material["texture"], rgb, pattern_kind, S), (0, 0), hood_mask)
        draw.line(hood + hood[:1], fill=edge, width=line_px + 1)
        draw.polygon(tf(ellipse(nx, ny + 0.05, nw * 0.75, 0.05, 16)), fill=_contrast(base, 0.35))

    if detail_kind == "belted":
        y = shape.waist if shape.waist is not None else 0.45
        band = Image.new("1", (S, S), 0)
        ImageDraw.Draw(band).polygon(
            tf(((-0.1, y - 0.035), (1.1, y - 0.035), (1.1, y + 0.035), (-0.1, y + 0.035))), 255
        )
        canvas.paste(colours["trim"], (0, 0), ImageChops.logical_and(band, mask))
        (bx, by), br = tf([(0.5, y)])[0], max(2.0, 0.06 * unit)
        draw.rectangle(
            (bx - br, by - br * 0.8, bx + br, by + br * 0.8), outline=metal, width=max(1, line_px + 1)
        )
    elif detail_kind == "studded":
        outline = body_polys[0]
        step = max(1, len(outline) // 12)
        rr = max(1.5, 0.028 * unit)
        ccx = sum(p[0] for p in outline) / len(outline)
        ccy = sum(p[1] for p in outline) / len(outline)
        for i in range(0, len(outline), step):
            for j in range(3):  # points along each edge, pulled slightly inside
                a, b = outline[i], outline[(i + 1) % len(outline)]
                px, py = a[0] + (b[0] - a[0]) * j / 3, a[1] + (b[1] - a[1]) * j / 3
                px, py = px + (ccx - px) * 0.1, py + (ccy - py) * 0.1
                draw.ellipse((px - rr, py - rr, px + rr, py + rr), fill=metal, outline=EMBLEM_EDGE)
    elif detail_kind == "embellished":
        rng = np.random.default_rng(pose["seed"])
        pts = tf(rng.random((70, 2)).tolist())
        rr = max(1.5, 0.035 * unit)
        for px, py in pts:
            if 0 <= px < S and 0 <= py < S and mask.getpixel((int(px), int(py))):
                draw.polygon(
                    [(px, py - rr * 1.6), (px + rr * 0.5, py), (px, py + rr * 1.6), (px - rr * 0.5, py)],
                    fill=(250, 250, 255),
                )
                draw.polygon(
                    [(px - rr * 1.6, py), (px, py - rr * 0.5), (px + rr * 1.6, py), (px, py + rr * 0.5)],
                    fill=(250, 250, 255),
                )

    if latent["line"]:
        line = vocab["lines"][latent["line"]]
        ex, ey, es = shape.emblem
        kind = line["emblem"]
        enamel = tuple(vocab["colours"][line["colour"]]) if "colour" in line else metal
        (px, py), r = tf([(ex, ey)])[0], max(3.0, es * unit * EMBLEM_SCALE / 2)

        def emblem_points(radius: float) -> list[tuple[float, float]]:
            return [(px + radius * (a * cos_t - b * sin_t), py + radius * (a * sin_t + b * cos_t)) for a, b in
                    _emblem(kind)]  # fmt: skip

        halo = r + max(1.0, r * 0.18)  # a dark rim keeps the enamel visible on any body colour
        if kind == "ring":
            draw.ellipse(
                (px - halo, py - halo, px + halo, py + halo), outline=EMBLEM_EDGE, width=max(2, int(r * 0.6))
            )
            draw.ellipse((px - r, py - r, px + r, py + r), outline=enamel, width=max(2, int(r * 0.45)))
        else:
            draw.polygon(emblem_points(halo), fill=EMBLEM_EDGE)
            draw.polygon(emblem_points(r), fill=enamel)

    return canvas


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes, deterministic for a given image and Pillow build."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
