"""URL columns: item URLs from the title slug and product code, image URLs from a UUID (pure functions)."""

from __future__ import annotations

import re
import uuid

_NOT_SLUG = re.compile(r"[^a-z0-9-]+")


def slugify(title: str) -> str:
    """Lower-case title words joined by '-', "and" dropped.

    "Check and Leather Card Case" -> "check-leather-card-case".
    """
    words = [_NOT_SLUG.sub("", w) for w in title.lower().split()]
    return "-".join(w for w in words if w and w != "and")


def item_url(prefix: str, title: str, product_code: int) -> str:
    """``https://us.burberry.com/<slug>-p<product_code>``."""
    return f"{prefix}{slugify(title)}-p{int(product_code)}"


def image_id(random_bytes: bytes) -> str:
    """A version-4 UUID from 16 random bytes (seeded by the caller, never global state), in upper case as the
    real catalogue's image URLs write it (``.../Burberryltd/1316258A-0BE3-4189-93B1-0DF44AD61CEE``)."""
    return str(uuid.UUID(bytes=bytes(random_bytes[:16]), version=4)).upper()


def image_url(prefix: str, image_uuid: str, placeholder: str) -> str:
    """The image URL, or the placeholder (e.g. "N.A.") when the row has no image id."""
    return f"{prefix}{image_uuid}" if image_uuid else placeholder
