"""Silhouette geometry per product type, in unit-box coordinates, plus the names of every visual code.

Pure Python (no numpy, no PIL) so the profile validator can import the names cheaply. A shape is a list of
polygons with a *role* (``body`` is filled with the material/pattern texture; ``trim`` with the trim colour;
``shade``/``dark``/``light``/``metal``/``glass``/``lens`` with derived flat colours) plus strokes, and anchors
where details go: the emblem (line/model name), the waist (belt band) and the neck (hood).

Shapes are designed to differ at 64 px: outline, aspect ratio and a few large parts, not fine detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

EMBLEMS: tuple[str, ...] = (
    "circle",
    "diamond",
    "triangle",
    "square",
    "star",
    "ring",
    "cross",
    "bar",
    "hexagon",
    "shield",
    "crescent",
    "chevron",
)
PATTERN_KINDS: tuple[str, ...] = ("check", "house_check", "giant_check", "monogram", "stripe")
DETAIL_KINDS: tuple[str, ...] = ("quilted", "belted", "hooded", "studded", "embellished")
TEXTURES: tuple[str, ...] = (
    "twill",
    "fuzzy",
    "coarse",
    "smooth",
    "matte",
    "glossy",
    "flat",
    "sheen",
    "denim",
    "curly",
    "canvas",
    "coated",
    "acetate",
    "metallic",
    "liquid",
)

Point = tuple[float, float]


@dataclass(frozen=True)
class Shape:
    """One silhouette: box aspect (fraction of the canvas at size scale 1), parts, strokes and anchors."""

    aspect: tuple[float, float]
    parts: tuple[tuple[str, tuple[Point, ...]], ...]
    strokes: tuple[tuple[str, tuple[Point, ...], float], ...] = ()
    emblem: tuple[float, float, float] = (0.5, 0.4, 0.16)  # x, y, size relative to min(box w, h)
    waist: float | None = None  # y of a belt band ("Belted")
    neck: tuple[float, float, float] | None = None  # x, y, half-width of the hood base ("Hooded")
    quilted: bool = False  # quilting is part of the silhouette itself (quilted jackets)
    dots: tuple[tuple[str, Point, float], ...] = field(default=())  # role, centre, radius (buttons, laces)


def rect(x0: float, y0: float, x1: float, y1: float) -> tuple[Point, ...]:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 24, a0: float = 0.0, a1: float = 360.0):
    pts = []
    for i in range(n + (0 if a1 - a0 >= 360 else 1)):
        a = math.radians(a0 + (a1 - a0) * i / n)
        pts.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
    return tuple(pts)


def mirror(points) -> tuple[Point, ...]:
    """A left-half outline (top to bottom) completed by its mirror image into a symmetric polygon."""
    left = list(points)
    right = [(1.0 - x, y) for x, y in reversed(left)]
    return tuple(left + right)


def mirror_x(points) -> tuple[Point, ...]:
    return tuple((1.0 - x, y) for x, y in points)


def _torso(neck: float, shoulder: Point, armpit: Point, hem: float, hem_y: float = 1.0, top: float = 0.02):
    """Left half of a garment body: neck edge, shoulder, armpit, hem corner; mirrored."""
    return mirror([(0.5 - neck, top), shoulder, armpit, (0.5 - hem, hem_y)])


def _sleeve(shoulder: Point, armpit: Point, cuff_outer: Point, cuff_inner: Point):
    left = (shoulder, cuff_outer, cuff_inner, armpit)
    return left, mirror_x(left)


def _garment(neck, shoulder, armpit, hem, sleeve_end, sleeve_w, hem_y=1.0, top=0.02):
    """Torso and two sleeves; ``sleeve_end`` is the outer cuff point of the left sleeve."""
    torso = _torso(neck, shoulder, armpit, hem, hem_y, top)
    cuff_inner = (sleeve_end[0] + sleeve_w, sleeve_end[1] + sleeve_w * 0.25)
    sl, sr = _sleeve(shoulder, armpit, sleeve_end, cuff_inner)
    return [("body", torso), ("body", sl), ("body", sr)]


def _buttons(xs, ys, r=0.022, role="dark"):
    return tuple((role, (x, y), r) for x in xs for y in ys)


def _build() -> dict[str, Shape]:
    s: dict[str, Shape] = {}

    # --- outerwear
    parts = _garment(0.16, (0.16, 0.07), (0.15, 0.32), 0.42, (0.0, 0.66), 0.1)
    parts += [("shade", ((0.34, 0.02), (0.5, 0.14), (0.43, 0.34), (0.28, 0.1)))]
    parts += [("shade", mirror_x(((0.34, 0.02), (0.5, 0.14), (0.43, 0.34), (0.28, 0.1))))]
    parts += [("dark", rect(0.1, 0.42, 0.9, 0.47)), ("shade", rect(0.13, 0.07, 0.25, 0.1))]
    s["trench"] = Shape(
        aspect=(0.52, 0.93),
        parts=tuple(parts),
        emblem=(0.3, 0.24, 0.14),
        waist=None,
        neck=(0.5, 0.03, 0.17),
        dots=_buttons((0.4, 0.6), (0.22, 0.31, 0.56)),
    )
    parts = _garment(0.14, (0.17, 0.08), (0.16, 0.32), 0.36, (0.02, 0.95), 0.12)
    parts += [("shade", ((0.34, 0.0), (0.66, 0.0), (0.64, 0.11), (0.36, 0.11)))]
    s["quilted_jacket"] = Shape(
        aspect=(0.58, 0.62),
        parts=tuple(parts),
        strokes=(("metal", ((0.5, 0.11), (0.5, 1.0)), 0.012),),
        emblem=(0.32, 0.26, 0.16),
        neck=(0.5, 0.01, 0.16),
        quilted=True,
    )
    torso = mirror([(0.36, 0.0), (0.14, 0.08), (0.08, 0.3), (0.1, 0.6), (0.07, 0.98)])
    sl = ((0.14, 0.08), (0.0, 0.3), (0.0, 0.92), (0.13, 0.93), (0.1, 0.32))
    s["puffer"] = Shape(
        aspect=(0.64, 0.64),
        parts=(("body", torso), ("body", sl), ("body", mirror_x(sl)), ("shade", rect(0.34, 0.0, 0.66, 0.12))),
        strokes=tuple(("dark", ((0.02, y), (0.98, y)), 0.014) for y in (0.28, 0.46, 0.64, 0.82))
        + (("metal", ((0.5, 0.12), (0.5, 0.98)), 0.01),),
        emblem=(0.3, 0.2, 0.14),
        neck=(0.5, 0.0, 0.17),
    )
    cape = ((0.38, 0.0), (0.62, 0.0), (0.68, 0.1), (1.0, 0.95), (0.5, 1.0), (0.0, 0.95), (0.32, 0.1))
    s["cape"] = Shape(
        aspect=(0.74, 0.7),
        parts=(("body", cape), ("shade", ((0.36, 0.0), (0.64, 0.0), (0.68, 0.12), (0.32, 0.12)))),
        strokes=(("dark", ((0.25, 0.5), (0.2, 0.7)), 0.012), ("dark", ((0.75, 0.5), (0.8, 0.7)), 0.012)),
        emblem=(0.5, 0.32, 0.16),
        waist=0.5,
    )
    parts = _garment(0.15, (0.16, 0.07), (0.15, 0.32), 0.38, (0.01, 0.94), 0.12)
    parts += [("shade", ((0.33, 0.0), (0.67, 0.0), (0.64, 0.1), (0.36, 0.1)))]
    s["field_jacket"] = Shape(
        aspect=(0.58, 0.64),
        parts=tuple(parts),
        strokes=tuple(
            ("dark", rect(x0, y0, x0 + 0.16, y0 + 0.16) + ((x0, y0),), 0.012)
            for x0 in (0.22, 0.62)
            for y0 in (0.25, 0.62)
        )
        + (("dark", ((0.5, 0.1), (0.5, 1.0)), 0.01),),
        emblem=(0.3, 0.16, 0.12),
        neck=(0.5, 0.01, 0.16),
    )

    # --- bags
    body = rect(0.05, 0.34, 0.95, 1.0)
    flap = ((0.05, 0.34), (0.95, 0.34), (0.95, 0.62), (0.5, 0.74), (0.05, 0.62))
    s["shoulder_bag"] = Shape(
        aspect=(0.8, 0.56),
        parts=(("body", body), ("trim", flap)),
        strokes=(("metal", ellipse(0.5, 0.34, 0.36, 0.32, 16, 180, 360), 0.03),),
        emblem=(0.5, 0.62, 0.2),
    )
    s["crossbody"] = Shape(
        aspect=(0.62, 0.72),
        parts=(("body", rect(0.12, 0.52, 0.88, 1.0)), ("shade", rect(0.12, 0.52, 0.88, 0.72))),
        strokes=(("trim", ((0.14, 0.53), (0.3, 0.0), (0.7, 0.0), (0.86, 0.53)), 0.018),),
        emblem=(0.5, 0.72, 0.2),
    )
    handle = ((0.2, 0.37), (0.27, 0.06), (0.42, 0.06), (0.46, 0.37))
    s["tote"] = Shape(
        aspect=(0.74, 0.74),
        parts=(("body", ((0.08, 0.36), (0.92, 0.36), (0.99, 1.0), (0.01, 1.0))),),
        strokes=(("trim", handle, 0.03), ("trim", mirror_x(handle), 0.03)),
        emblem=(0.5, 0.62, 0.18),
    )
    s["bucket_bag"] = Shape(
        aspect=(0.58, 0.76),
        parts=(
            ("body", ((0.1, 0.3), (0.9, 0.3), (0.86, 0.94), (0.74, 1.0), (0.26, 1.0), (0.14, 0.94))),
            ("dark", ellipse(0.5, 0.3, 0.4, 0.06, 20)),
        ),
        strokes=(
            ("trim", ellipse(0.5, 0.3, 0.36, 0.3, 14, 180, 360), 0.022),
            ("metal", ((0.42, 0.32), (0.4, 0.5)), 0.012),
            ("metal", ((0.58, 0.32), (0.6, 0.5)), 0.012),
        ),
        emblem=(0.5, 0.62, 0.2),
    )
    s["backpack"] = Shape(
        aspect=(0.58, 0.86),
        parts=(
            ("body", ((0.1, 0.22), (0.2, 0.12), (0.8, 0.12), (0.9, 0.22), (0.95, 1.0), (0.05, 1.0))),
            ("shade", rect(0.2, 0.56, 0.8, 0.92)),
        ),
        strokes=(
            ("trim", ((0.38, 0.13), (0.42, 0.0), (0.58, 0.0), (0.62, 0.13)), 0.025),
            ("trim", ((0.1, 0.25), (0.05, 0.95)), 0.03),
            ("trim", ((0.9, 0.25), (0.95, 0.95)), 0.03),
        ),
        emblem=(0.5, 0.4, 0.2),
    )

    # --- shoes (side view, toe to the right)
    upper = (
        (0.02, 0.8),
        (0.0, 0.5),
        (0.06, 0.28),
        (0.3, 0.22),
        (0.46, 0.0),
        (0.6, 0.0),
        (0.72, 0.3),
        (0.96, 0.52),
        (1.0, 0.8),
    )
    s["sneaker"] = Shape(
        aspect=(0.84, 0.42),
        parts=(
            ("body", upper),
            ("trim", ((0.02, 0.8), (0.0, 0.5), (0.06, 0.28), (0.18, 0.26), (0.18, 0.8))),
            ("trim", ((0.82, 0.43), (0.96, 0.52), (1.0, 0.8), (0.82, 0.8))),
            ("light", ((0.0, 0.78), (1.0, 0.78), (1.0, 0.9), (0.95, 1.0), (0.05, 1.0), (0.0, 0.9))),
        ),
        dots=tuple(("light", (0.5 + 0.05 * i, 0.12 + 0.08 * i), 0.025) for i in range(4)),
        emblem=(0.38, 0.55, 0.28),
    )
    s["boot"] = Shape(
        aspect=(0.62, 0.86),
        parts=(
            ("body", ((0.12, 0.0), (0.58, 0.0), (0.6, 0.62), (0.92, 0.76), (1.0, 0.92), (0.1, 0.92))),
            ("shade", ((0.46, 0.04), (0.58, 0.04), (0.59, 0.5), (0.5, 0.5))),
            ("trim", ((0.06, 0.92), (1.0, 0.92), (1.0, 1.0), (0.06, 1.0))),
            ("trim", rect(0.1, 0.88, 0.3, 1.0)),
        ),
        emblem=(0.32, 0.36, 0.22),
    )
    s["pump"] = Shape(
        aspect=(0.82, 0.5),
        parts=(
            (
                "body",
                (
                    (0.0, 0.3),
                    (0.12, 0.22),
                    (0.3, 0.5),
                    (0.72, 0.58),
                    (1.0, 0.82),
                    (0.96, 0.88),
                    (0.4, 0.88),
                    (0.15, 0.62),
                    (0.06, 0.5),
                ),
            ),
            ("dark", ((0.0, 0.3), (0.08, 0.44), (0.12, 1.0), (0.08, 1.0), (0.02, 0.5))),
            ("shade", ellipse(0.24, 0.42, 0.12, 0.05, 12)),
        ),
        emblem=(0.78, 0.72, 0.24),
    )
    s["loafer"] = Shape(
        aspect=(0.84, 0.38),
        parts=(
            (
                "body",
                (
                    (0.0, 0.4),
                    (0.06, 0.16),
                    (0.32, 0.14),
                    (0.55, 0.04),
                    (0.8, 0.2),
                    (1.0, 0.58),
                    (1.0, 0.8),
                    (0.0, 0.8),
                ),
            ),
            ("trim", ((0.46, 0.12), (0.74, 0.15), (0.76, 0.34), (0.48, 0.32))),
            ("dark", rect(0.0, 0.8, 1.0, 1.0)),
        ),
        emblem=(0.62, 0.24, 0.3),
    )
    s["kids_sneaker"] = Shape(
        aspect=(0.52, 0.36),
        parts=(
            ("body", ((0.02, 0.78), (0.0, 0.34), (0.3, 0.1), (0.6, 0.12), (0.92, 0.4), (1.0, 0.78))),
            ("trim", rect(0.3, 0.22, 0.62, 0.34)),
            ("trim", rect(0.34, 0.44, 0.74, 0.56)),
            ("light", ((0.0, 0.76), (1.0, 0.76), (1.0, 0.9), (0.92, 1.0), (0.06, 1.0), (0.0, 0.9))),
        ),
        emblem=(0.16, 0.5, 0.28),
    )

    # --- accessories
    s["bucket_hat"] = Shape(
        aspect=(0.74, 0.5),
        parts=(
            ("body", ((0.24, 0.02), (0.5, 0.0), (0.76, 0.02), (0.84, 0.6), (0.16, 0.6))),
            ("body", ((0.0, 0.95), (0.12, 0.56), (0.88, 0.56), (1.0, 0.95), (0.5, 1.0))),
            ("trim", rect(0.15, 0.48, 0.85, 0.6)),
        ),
        emblem=(0.5, 0.28, 0.24),
        waist=0.54,
    )
    s["cap"] = Shape(
        aspect=(0.78, 0.5),
        parts=(
            ("body", ellipse(0.38, 0.72, 0.36, 0.7, 20, 180, 360)),
            ("body", ((0.6, 0.62), (1.0, 0.74), (0.97, 0.86), (0.62, 0.8))),
            ("trim", rect(0.02, 0.68, 0.74, 0.78)),
        ),
        dots=(("metal", (0.38, 0.04), 0.035),),
        emblem=(0.38, 0.42, 0.26),
    )
    finger = [(0.05 + 0.085 * i, 0.02 + (0.04 if i in (0, 3) else 0.0)) for i in range(4)]
    glove = [("body", rect(0.04, 0.35, 0.4, 0.86))]
    glove += [("body", rect(x, y, x + 0.07, 0.4)) for x, y in finger]
    glove += [
        ("body", ((0.38, 0.5), (0.48, 0.38), (0.5, 0.44), (0.41, 0.64))),
        ("trim", rect(0.05, 0.84, 0.39, 1.0)),
    ]
    glove_r = [(role, tuple((x + 0.52, y) for x, y in pts)) for role, pts in glove]
    s["gloves"] = Shape(aspect=(0.74, 0.7), parts=tuple(glove + glove_r), emblem=(0.22, 0.62, 0.22))
    s["belt"] = Shape(
        aspect=(0.94, 0.2),
        parts=(("body", rect(0.12, 0.28, 1.0, 0.72)),),
        strokes=(("metal", rect(0.0, 0.06, 0.16, 0.94) + ((0.0, 0.06),), 0.05),),
        dots=tuple(("dark", (0.7 + 0.06 * i, 0.5), 0.06) for i in range(4)),
        emblem=(0.08, 0.5, 0.7),
    )
    lens = ellipse(0.24, 0.5, 0.2, 0.36, 20)
    s["sunglasses"] = Shape(
        aspect=(0.84, 0.34),
        parts=(
            ("body", ellipse(0.24, 0.5, 0.24, 0.44, 20)),
            ("body", mirror_x(ellipse(0.24, 0.5, 0.24, 0.44, 20))),
            ("lens", lens),
            ("lens", mirror_x(lens)),
        ),
        strokes=(("body", ((0.44, 0.36), (0.5, 0.3), (0.56, 0.36)), 0.06),),
        emblem=(0.08, 0.22, 0.3),
    )
    s["key_charm"] = Shape(
        aspect=(0.44, 0.8),
        parts=(("body", ((0.2, 0.4), (0.8, 0.4), (0.86, 0.5), (0.86, 1.0), (0.14, 1.0), (0.14, 0.5))),),
        strokes=(
            ("metal", ellipse(0.5, 0.12, 0.16, 0.1, 16), 0.04),
            ("metal", ((0.5, 0.22), (0.5, 0.4)), 0.04),
        ),
        dots=(("dark", (0.5, 0.48), 0.05),),
        emblem=(0.5, 0.72, 0.4),
    )
    s["wallet"] = Shape(
        aspect=(0.74, 0.5),
        parts=(
            ("body", rect(0.0, 0.06, 1.0, 1.0)),
            ("shade", ((0.0, 0.06), (1.0, 0.06), (1.0, 0.5), (0.0, 0.5))),
        ),
        strokes=(("trim", ((0.0, 0.5), (1.0, 0.5)), 0.03),),
        dots=(("metal", (0.86, 0.5), 0.05),),
        emblem=(0.5, 0.3, 0.3),
    )
    s["card_case"] = Shape(
        aspect=(0.56, 0.4),
        parts=(("body", rect(0.0, 0.0, 1.0, 1.0)), ("trim", rect(0.0, 0.0, 1.0, 0.2))),
        strokes=(
            ("dark", ((0.06, 0.36), (0.94, 0.36)), 0.025),
            ("dark", ((0.06, 0.52), (0.94, 0.52)), 0.025),
        ),
        emblem=(0.5, 0.74, 0.32),
    )
    fringe = tuple(("shade", ((x, 0.93), (x, 1.0)), 0.012) for x in [0.22 + 0.05 * i for i in range(12)])
    s["scarf"] = Shape(
        aspect=(0.44, 0.95),
        parts=(
            ("body", rect(0.2, 0.0, 0.8, 0.93)),
            ("body", ((0.0, 0.22), (0.62, 0.18), (0.7, 0.4), (0.06, 0.46))),
        ),
        strokes=fringe,
        emblem=(0.5, 0.75, 0.22),
    )
    s["silk_scarf"] = Shape(
        aspect=(0.8, 0.8),
        parts=(("body", ((0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5))),),
        strokes=(("shade", ((0.5, 0.08), (0.92, 0.5), (0.5, 0.92), (0.08, 0.5), (0.5, 0.08)), 0.03),),
        emblem=(0.5, 0.5, 0.2),
    )
    chain = [
        ("body", ellipse(0.5 + 0.42 * math.cos(a), 0.36 + 0.32 * math.sin(a), 0.035, 0.035, 8))
        for a in [math.radians(10 + 160 * i / 13) for i in range(14)]
    ]
    chain += [
        ("body", ellipse(0.5 + 0.42 * math.cos(a), 0.36 + 0.32 * math.sin(a), 0.035, 0.035, 8))
        for a in [math.radians(190 + 160 * i / 13) for i in range(14)]
    ]
    s["necklace"] = Shape(
        aspect=(0.62, 0.8),
        parts=tuple(chain),
        strokes=(("metal", ((0.5, 0.68), (0.5, 0.74)), 0.03),),
        emblem=(0.5, 0.86, 0.28),
    )
    s["perfume"] = Shape(
        aspect=(0.46, 0.84),
        parts=(
            ("metal", rect(0.3, 0.0, 0.7, 0.2)),
            ("glass", rect(0.4, 0.2, 0.6, 0.27)),
            ("glass", rect(0.04, 0.27, 0.96, 1.0)),
            ("body", rect(0.1, 0.4, 0.9, 0.95)),
            ("light", rect(0.22, 0.52, 0.78, 0.8)),
        ),
        emblem=(0.5, 0.66, 0.24),
    )
    s["lipstick"] = Shape(
        aspect=(0.26, 0.78),
        parts=(
            ("body", ((0.24, 0.46), (0.24, 0.14), (0.76, 0.02), (0.76, 0.46))),
            ("dark", rect(0.16, 0.42, 0.84, 0.52)),
            ("metal", rect(0.06, 0.52, 0.94, 1.0)),
        ),
        emblem=(0.5, 0.76, 0.4),
    )
    s["blanket"] = Shape(
        aspect=(0.86, 0.6),
        parts=(
            ("body", rect(0.0, 0.06, 0.94, 0.38)),
            ("body", rect(0.03, 0.36, 0.97, 0.68)),
            ("body", rect(0.0, 0.66, 0.94, 0.98)),
        ),
        strokes=(
            ("dark", ((0.0, 0.37), (0.94, 0.37)), 0.012),
            ("dark", ((0.03, 0.67), (0.97, 0.67)), 0.012),
        )
        + tuple(("shade", ((0.94, y), (1.0, y)), 0.012) for y in [0.1 + 0.04 * i for i in range(7)]),
        emblem=(0.84, 0.84, 0.16),
    )
    s["gift_box"] = Shape(
        aspect=(0.56, 0.58),
        parts=(
            ("body", rect(0.04, 0.3, 0.96, 1.0)),
            ("shade", rect(0.0, 0.18, 1.0, 0.34)),
            ("trim", rect(0.44, 0.18, 0.56, 1.0)),
            ("trim", ellipse(0.38, 0.1, 0.12, 0.08, 12)),
            ("trim", ellipse(0.62, 0.1, 0.12, 0.08, 12)),
        ),
        emblem=(0.25, 0.66, 0.26),
    )

    # --- clothing
    parts = _garment(0.12, (0.17, 0.06), (0.17, 0.3), 0.34, (0.02, 0.92), 0.12)
    parts += [("shade", rect(0.15, 0.9, 0.85, 1.0)), ("dark", ellipse(0.5, 0.03, 0.12, 0.05, 16))]
    s["sweater"] = Shape(
        aspect=(0.74, 0.7), parts=tuple(parts), emblem=(0.5, 0.34, 0.2), neck=(0.5, 0.02, 0.13)
    )
    parts = _garment(0.1, (0.18, 0.07), (0.18, 0.3), 0.33, (0.03, 0.9), 0.11, hem_y=0.97)
    parts += [
        ("light", ((0.36, 0.0), (0.5, 0.1), (0.42, 0.16))),
        ("light", ((0.64, 0.0), (0.5, 0.1), (0.58, 0.16))),
    ]
    s["shirt"] = Shape(
        aspect=(0.7, 0.76),
        parts=tuple(parts),
        strokes=(("shade", ((0.5, 0.1), (0.5, 0.97)), 0.02),),
        dots=tuple(("light", (0.5, 0.2 + 0.15 * i), 0.016) for i in range(5)),
        emblem=(0.33, 0.3, 0.14),
    )
    parts = _garment(0.11, (0.2, 0.07), (0.22, 0.3), 0.32, (0.0, 0.36), 0.1)
    parts += [("shade", ((0.38, 0.0), (0.5, 0.08), (0.62, 0.0), (0.62, 0.06), (0.5, 0.14), (0.38, 0.06)))]
    s["polo"] = Shape(
        aspect=(0.72, 0.62),
        parts=tuple(parts),
        strokes=(("shade", ((0.5, 0.1), (0.5, 0.3)), 0.03),),
        dots=tuple(("light", (0.5, 0.16 + 0.07 * i), 0.018) for i in range(2)),
        emblem=(0.32, 0.3, 0.14),
    )
    parts = _garment(0.12, (0.2, 0.06), (0.22, 0.3), 0.32, (0.0, 0.36), 0.11)
    parts += [("shade", ellipse(0.5, 0.02, 0.13, 0.07, 16, 0, 180))]
    s["tshirt"] = Shape(aspect=(0.72, 0.62), parts=tuple(parts), emblem=(0.5, 0.38, 0.26))
    parts = _garment(0.13, (0.17, 0.14), (0.17, 0.36), 0.33, (0.02, 0.94), 0.12, top=0.12)
    parts += [("body", ellipse(0.5, 0.12, 0.2, 0.14, 18)), ("dark", ellipse(0.5, 0.14, 0.12, 0.09, 16))]
    parts += [
        ("shade", ((0.3, 0.62), (0.7, 0.62), (0.76, 0.88), (0.24, 0.88))),
        ("shade", rect(0.17, 0.92, 0.83, 1.0)),
    ]
    s["hoodie"] = Shape(
        aspect=(0.72, 0.72),
        parts=tuple(parts),
        strokes=(
            ("light", ((0.45, 0.24), (0.44, 0.42)), 0.012),
            ("light", ((0.55, 0.24), (0.56, 0.42)), 0.012),
        ),
        emblem=(0.5, 0.44, 0.18),
    )
    leg = ((0.06, 0.1), (0.5, 0.1), (0.5, 0.24), (0.46, 1.0), (0.12, 1.0))
    s["trousers"] = Shape(
        aspect=(0.5, 0.95),
        parts=(("body", leg), ("body", mirror_x(leg)), ("shade", rect(0.06, 0.0, 0.94, 0.1))),
        strokes=(("shade", ((0.5, 0.1), (0.5, 0.22)), 0.02),),
        emblem=(0.26, 0.2, 0.14),
        waist=0.05,
    )
    parts = _garment(0.15, (0.15, 0.05), (0.15, 0.3), 0.36, (0.01, 0.92), 0.12)
    lapel = ((0.35, 0.0), (0.5, 0.44), (0.42, 0.44), (0.3, 0.16), (0.36, 0.12), (0.28, 0.06))
    parts += [("shade", lapel), ("shade", mirror_x(lapel))]
    s["blazer"] = Shape(
        aspect=(0.62, 0.76),
        parts=tuple(parts),
        strokes=(("dark", ((0.2, 0.66), (0.38, 0.66)), 0.02), ("dark", ((0.62, 0.66), (0.8, 0.66)), 0.02)),
        dots=(("dark", (0.5, 0.56), 0.025),),
        emblem=(0.68, 0.28, 0.12),
    )
    dress = mirror([(0.4, 0.0), (0.36, 0.08), (0.32, 0.2), (0.34, 0.36), (0.04, 1.0)])
    s["dress"] = Shape(
        aspect=(0.58, 0.94),
        parts=(("body", dress), ("shade", ellipse(0.5, 0.1, 0.1, 0.08, 16, 0, 180))),
        emblem=(0.5, 0.24, 0.16),
        waist=0.36,
    )
    s["skirt"] = Shape(
        aspect=(0.56, 0.7),
        parts=(
            ("body", ((0.24, 0.1), (0.76, 0.1), (1.0, 1.0), (0.0, 1.0))),
            ("shade", rect(0.24, 0.0, 0.76, 0.12)),
        ),
        strokes=tuple(
            ("shade", ((x, 0.14), (0.5 + (x - 0.5) * 2, 0.98)), 0.012) for x in (0.35, 0.43, 0.57, 0.65)
        ),
        emblem=(0.5, 0.06, 0.1),
        waist=0.06,
    )
    suit = mirror([(0.36, 0.0), (0.28, 0.0), (0.3, 0.28), (0.24, 0.9), (0.38, 1.0), (0.46, 0.84)])
    s["swimsuit"] = Shape(
        aspect=(0.44, 0.8),
        parts=(("body", suit), ("shade", ellipse(0.5, 0.22, 0.1, 0.08, 14, 0, 180))),
        emblem=(0.5, 0.45, 0.2),
    )
    short_leg = ((0.02, 0.14), (0.5, 0.14), (0.5, 0.3), (0.48, 1.0), (0.0, 0.96))
    s["swim_shorts"] = Shape(
        aspect=(0.64, 0.52),
        parts=(("body", short_leg), ("body", mirror_x(short_leg)), ("shade", rect(0.02, 0.0, 0.98, 0.14))),
        strokes=(
            ("light", ((0.46, 0.08), (0.42, 0.36)), 0.015),
            ("light", ((0.54, 0.08), (0.58, 0.36)), 0.015),
        ),
        emblem=(0.22, 0.72, 0.2),
        waist=0.07,
    )

    # --- kids: smaller boxes, rounder shapes
    kd = mirror([(0.36, 0.0), (0.3, 0.06), (0.3, 0.38), (0.0, 1.0)])
    s["kids_dress"] = Shape(
        aspect=(0.5, 0.56),
        parts=(
            ("body", kd),
            ("body", ellipse(0.22, 0.12, 0.14, 0.11, 16)),
            ("body", ellipse(0.78, 0.12, 0.14, 0.11, 16)),
            ("light", ellipse(0.42, 0.04, 0.1, 0.07, 14)),
            ("light", ellipse(0.58, 0.04, 0.1, 0.07, 14)),
        ),
        emblem=(0.5, 0.28, 0.18),
        waist=0.38,
    )
    kt = mirror([(0.36, 0.0), (0.28, 0.08), (0.28, 0.62), (0.16, 1.0)])
    s["kids_top"] = Shape(
        aspect=(0.48, 0.42),
        parts=(
            ("body", kt),
            ("body", ellipse(0.2, 0.2, 0.16, 0.16, 16)),
            ("body", ellipse(0.8, 0.2, 0.16, 0.16, 16)),
            ("light", ellipse(0.4, 0.06, 0.12, 0.1, 14)),
            ("light", ellipse(0.6, 0.06, 0.12, 0.1, 14)),
        ),
        emblem=(0.5, 0.5, 0.2),
    )
    parts = _garment(0.14, (0.16, 0.06), (0.15, 0.3), 0.4, (0.02, 0.8), 0.13)
    parts += [("shade", rect(0.18, 0.62, 0.4, 0.84)), ("shade", rect(0.6, 0.62, 0.82, 0.84))]
    s["duffle"] = Shape(
        aspect=(0.5, 0.58),
        parts=tuple(parts),
        strokes=tuple(("trim", ((0.42, y), (0.58, y)), 0.035) for y in (0.2, 0.34, 0.48)),
        emblem=(0.3, 0.2, 0.14),
        neck=(0.5, 0.02, 0.15),
    )
    onesie = mirror([(0.38, 0.0), (0.2, 0.06), (0.2, 0.62), (0.26, 0.92), (0.42, 1.0), (0.46, 0.86)])
    sl = ((0.2, 0.06), (0.0, 0.2), (0.06, 0.36), (0.2, 0.3))
    s["onesie"] = Shape(
        aspect=(0.46, 0.54),
        parts=(
            ("body", onesie),
            ("body", sl),
            ("body", mirror_x(sl)),
            ("shade", ellipse(0.5, 0.0, 0.13, 0.08, 14, 0, 180)),
        ),
        dots=tuple(("light", (0.44 + 0.06 * i, 0.9), 0.025) for i in range(3)),
        emblem=(0.5, 0.36, 0.22),
    )
    return s


SHAPES: dict[str, Shape] = _build()
SILHOUETTES: tuple[str, ...] = tuple(SHAPES)
