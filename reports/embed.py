"""Images as ``data:`` URIs, so a report needs no file beside it and makes no network request."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def bytes_data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,…`` for raw bytes (an SVG, a PNG already encoded)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def thumbnail(image: Image.Image | str | Path | bytes, max_size: int = 160) -> Image.Image:
    """An RGB copy of ``image`` (a PIL image, a path or bytes), at most ``max_size`` on a side."""
    if isinstance(image, bytes):
        img = Image.open(io.BytesIO(image))
    elif isinstance(image, str | Path):
        img = Image.open(image)
    else:
        img = image
    if img.format == "JPEG" and max(img.size) > 2 * max_size:
        # draft() lets libjpeg decode at 1/2, 1/4 or 1/8 scale: big real photos thumbnail many times faster.
        img.draft("RGB", (max_size, max_size))
    out = img.convert("RGB")
    out.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    return out


def image_data_uri(
    image: Image.Image | str | Path | bytes, max_size: int = 160, fmt: str = "JPEG", quality: int = 85
) -> str:
    """A thumbnail of ``image`` encoded as a ``data:`` URI (JPEG by default: a few kB per product photo).

    Raises:
        OSError: the file is missing or not an image (callers decide what to show instead).
    """
    fmt = fmt.upper()
    if fmt not in _MIME:
        raise ValueError(f"unsupported format {fmt!r}: choose one of {', '.join(_MIME)}")
    buf = io.BytesIO()
    options = {"quality": quality, "optimize": True} if fmt in ("JPEG", "WEBP") else {"optimize": True}
    thumbnail(image, max_size).save(buf, format=fmt, **options)
    return bytes_data_uri(buf.getvalue(), _MIME[fmt])


# A 1×1 light-grey GIF: shown where an image cannot be read, so the layout stays intact.
PLACEHOLDER_URI = "data:image/gif;base64,R0lGODlhAQABAIAAAN3d3f///ywAAAAAAQABAAACAkQBADs="


def image_data_uri_or_placeholder(image: Image.Image | str | Path | bytes | None, max_size: int = 160) -> str:
    """Like ``image_data_uri`` but returns a grey placeholder for a missing or unreadable image."""
    if image is None:
        return PLACEHOLDER_URI
    try:
        return image_data_uri(image, max_size)
    except (OSError, ValueError, SyntaxError):
        return PLACEHOLDER_URI
