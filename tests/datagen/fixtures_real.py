"""Test helpers for the real-data commands: a loopback image server with bad routes, and DBQ-like rows.

Imported by the test modules (``from tests.datagen.fixtures_real import ...``): tests/datagen/conftest.py
belongs to the synth tests, so these helpers live in their own module.

Routes of ``ImageServer`` (``{name}`` is any word; each distinct name is a distinct image):

- ``/ok/{name}``: a JPEG;                       ``/png/{name}``: a PNG with transparency;
- ``/missing/{name}``: 404;                     ``/flaky/{name}``: 500 on the first request, then a JPEG;
- ``/error/{name}``: always 503;                ``/slow/{name}``: a JPEG after ``slow_s`` seconds;
- ``/truncated/{name}``: announces more bytes than it sends, then closes;
- ``/cut/{name}``: a complete response holding the first half of a JPEG (a corrupt image);
- ``/text/{name}``: an HTML page (not an image).
"""

from __future__ import annotations

import io
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


def jpeg_bytes(name: str, size: int = 24) -> bytes:
    """A small JPEG whose colour depends on ``name``."""
    crc = zlib.crc32(name.encode())
    colour = (crc & 255, (crc >> 8) & 255, (crc >> 16) & 255)
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png_bytes(name: str, size: int = 24) -> bytes:
    """A small RGBA PNG (half transparent) whose colour depends on ``name``."""
    crc = zlib.crc32(name.encode())
    img = Image.new("RGBA", (size, size), (crc & 255, (crc >> 8) & 255, 40, 255))
    img.paste((0, 0, 0, 0), (0, 0, size // 2, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class ImageServer:
    """A ThreadingHTTPServer on 127.0.0.1 (free port) that counts requests per path and concurrency."""

    def __init__(self, slow_s: float = 0.5) -> None:
        self.slow_s = slow_s
        self.requests: Counter[str] = Counter()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with server._lock:
                    server.requests[self.path] += 1
                    count = server.requests[self.path]
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    server.respond(self, count)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server.active -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def url(self, route: str, name: str) -> str:
        return f"{self.base}/{route}/{name}"

    def count(self, route: str, name: str) -> int:
        return self.requests[f"/{route}/{name}"]

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def respond(self, handler: BaseHTTPRequestHandler, count: int) -> None:
        _, route, name = handler.path.split("/", 2)
        body, ctype, status = jpeg_bytes(name), "image/jpeg", 200
        if route == "ok":
            time.sleep(0.01)  # long enough for requests to overlap, so concurrency is observable
        elif route == "png":
            body, ctype = png_bytes(name), "image/png"
        elif route == "missing":
            body, ctype, status = b"not found", "text/plain", 404
        elif route == "flaky" and count == 1:
            body, ctype, status = b"oops", "text/plain", 500
        elif route == "error":
            body, ctype, status = b"unavailable", "text/plain", 503
        elif route == "slow":
            time.sleep(self.slow_s)
        elif route == "cut":
            body = body[: len(body) // 2]
        elif route == "text":
            body, ctype = b"<html><body>a product page</body></html>", "text/html"
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        if route == "truncated":
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 3])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def image_server(slow_s: float = 0.5) -> Iterator[ImageServer]:
    with ImageServer(slow_s) as server:
        yield server


# Local-language categories and local currencies, as other countries' DBQ datasets have them.
_COUNTRIES = {
    "USA": ("USD", 0.9225, "us", ("WOMAN", "OUTERWEAR", "TRENCH COATS")),
    "FRA": ("EUR", 1.0, "fr", ("FEMME", "MANTEAUX", "TRENCHS")),
    "ITA": ("EUR", 1.0, "it", ("DONNA", "BORSE", "N.A.")),
    "GBR": ("GBP", 1.1494, "uk", ("MAN", "SHOES", "SNEAKERS")),
    "JPN": ("JPY", 0.0062, "jp", ("KIDS", "ACCESSORIES", "HATS & GLOVES")),
}

TITLES = [
    'Check Cashmere Scarf, "Archive" Edition',
    "Long Kensington Heritage Trench Coat",
    "Sac « Frances » mini, cuir",
    'Borsa "Lola" piccola',
    "Sneakers en coton, motif Check",
    "EKD Wool Cape",
    "Cotton Gabardine Belted Bucket Hat",
    "Mini Frances Bag",
]


def dbq_row(code: int, country: str, imageurl: str, title: str, price: float = 1290.0) -> dict:
    """One row in the DBQ schema for ``country`` (local currency and category language)."""
    currency, eur_rate, sub, (cat1, cat2, cat3) = _COUNTRIES[country]
    slug = "-".join(title.lower().replace(",", "").replace('"', "").split())
    return {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": country,
        "currency_code": currency,
        "brand": "BURBERRY",
        "category1_code": cat1,
        "category2_code": cat2,
        "category3_code": cat3,
        "product_code": code,
        "title": title,
        "itemurl": f"https://{sub}.burberry.com/{slug}-p{code}",
        "imageurl": imageurl,
        "full_price": price,
        "price": price,
        "full_price_eur": round(price * eur_rate, 2),
        "price_eur": round(price * eur_rate, 2),
        "flg_discount": 0,
    }


def fixture_rows(server: ImageServer) -> list[dict]:
    """A table with every case the importer must handle; ``EXPECTED_*`` below describe its outcome.

    The first nine rows import (JPEGs, a PNG, a 500-then-OK); the other seven are left out, one for each
    reason in EXPECTED_FAILURES.
    """
    countries = list(_COUNTRIES)
    rows = []
    for i in range(7):
        country = countries[i % len(countries)]
        rows.append(dbq_row(26_000_000 + i, country, server.url("ok", f"p{i}"), TITLES[i], 100.0 * (i + 1)))
    rows.append(dbq_row(26_000_100, "FRA", server.url("png", "p100"), TITLES[7], 2490.0))
    rows.append(dbq_row(26_000_101, "USA", server.url("flaky", "p101"), "Check Wool Scarf", 590.0))
    rows.append(dbq_row(26_000_200, "ITA", "N.A.", "Borsa a tracolla, nera", 1900.0))
    rows.append(dbq_row(26_000_201, "GBR", server.url("missing", "p201"), "Leather Belt", 450.0))
    rows.append(dbq_row(26_000_202, "JPN", server.url("slow", "p202"), "Bucket Hat", 39_000.0))
    rows.append(dbq_row(26_000_203, "USA", server.url("truncated", "p203"), "Quilted Jacket", 1590.0))
    rows.append(dbq_row(26_000_204, "FRA", server.url("cut", "p204"), "Chemise en coton", 450.0))
    rows.append(dbq_row(26_000_205, "ITA", server.url("text", "p205"), "Portafoglio", 520.0))
    rows.append(dbq_row(26_000_000, "USA", server.url("ok", "dup"), "A Duplicate Code", 10.0))
    return rows


EXPECTED_IMPORTED = 9
EXPECTED_FAILURES = {
    "no_image_url": 1,
    "http_404": 1,
    "timeout": 1,
    "truncated": 1,
    "corrupt_image": 1,
    "not_an_image": 1,
    "duplicate_product_code": 1,
}


def write_dataset(out, rows: list[dict], seed: int = 0):
    """A DATASET dir of ``rows`` with small JPEGs, written the way every command writes one."""
    from contracts.dataset.split import assign_splits
    from contracts.dataset.writer import DatasetWriter

    splits = assign_splits([r["product_code"] for r in rows], [r["category3_code"] for r in rows], seed)
    with DatasetWriter(out, overwrite=True) as writer:
        for row, split in zip(rows, splits, strict=True):
            writer.add(split, row, jpeg_bytes(str(row["product_code"])))
        return writer.finish(
            {"generator": "datagen real", "version": "0.1.0", "rows": len(rows)}, "# test dataset\n"
        )


def catalogue_rows(seed: int, n: int, country: str = "USA", code_base: int = 30_000_000) -> list[dict]:
    """``n`` rows with seeded prices (log-normal) and titles from a small vocabulary, in one country."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = ["Check", "Cashmere", "Cotton", "Leather", "Quilted", "Wool", "Mini", "Long", "Heritage"]
    nouns = ["Scarf", "Trench Coat", "Bag", "Sneakers", "Cap"]
    rows = []
    for i in range(n):
        title = " ".join([*rng.choice(words, size=rng.integers(1, 4), replace=False), nouns[i % len(nouns)]])
        price = float(round(float(np.exp(rng.normal(6.5, 0.8))), 0))
        row = dbq_row(code_base + i, country, f"https://img.example/i/{seed}-{i}", f"{title} {i}", price)
        noun = nouns[i % len(nouns)]
        row.update(category2_code=_CATEGORY2[noun], category3_code=noun.upper() + "S")
        rows.append(row)
    return rows


_CATEGORY2 = {
    "Scarf": "SCARVES",
    "Trench Coat": "OUTERWEAR",
    "Bag": "BAGS",
    "Sneakers": "SHOES",
    "Cap": "HATS",
}


_NOUN_CATEGORIES = {
    "Scarf": ("WOMAN", "ACCESSORIES", "SCARVES", 6.2),
    "Trench Coat": ("WOMAN", "OUTERWEAR", "TRENCH COATS", 7.7),
    "Bag": ("WOMAN", "BAGS", "SHOULDER", 7.3),
    "Sneakers": ("MAN", "SHOES", "SNEAKERS", 6.6),
    "Cap": ("MAN", "ACCESSORIES", "HATS & GLOVES", 5.9),
}


def catalogue_sample(seed: int, n: int, code_base: int = 30_000_000) -> list[dict]:
    """``n`` rows drawn from one fixed catalogue: two samples with different seeds are independent samples
    of the same source (titles of 1-3 words before a noun, so a few repeat; log-normal prices per noun,
    rounded to tens)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = ["Check", "Cashmere", "Cotton", "Leather", "Quilted", "Wool", "Mini", "Long", "Heritage", "Nylon",
             "Striped", "Suede", "Logo", "Vintage"]  # fmt: skip
    nouns = list(_NOUN_CATEGORIES)
    rows = []
    for i in range(n):
        noun = nouns[int(rng.integers(len(nouns)))]
        cat1, cat2, cat3, centre = _NOUN_CATEGORIES[noun]
        title = " ".join([*rng.choice(words, size=int(rng.integers(1, 4)), replace=False), noun])
        price = float(round(float(np.exp(rng.normal(centre, 0.35))), -1))
        row = dbq_row(code_base + i, "USA", f"https://img.example/i/{seed}-{i}", title, price)
        row.update(category1_code=cat1, category2_code=cat2, category3_code=cat3)
        rows.append(row)
    return rows
