"""Fetch product images concurrently into a resumable on-disk cache, keeping only decodable images.

The cache holds each URL's original bytes under ``sha256(url)``, written atomically (temporary sibling, then
rename), and only once the bytes have fully decoded as an image: a cached file is trusted without decoding it
again, and a second run downloads nothing it already has. Results point at cached files rather than holding
bytes, so memory stays flat however many images there are.

Transient failures (timeouts, connection errors, truncated bodies, HTTP 5xx/429/408) are retried with
exponential backoff; its jitter comes from a generator seeded by (seed, url), so it is reproducible.
Permanent failures (other 4xx, bytes that are not an image, a corrupt image) are not retried.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datagen import __version__

USER_AGENT = f"phi3v-catalogue-datagen/{__version__}"
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}
# Decompression-bomb guard: product photos are a few megapixels at most.
_MAX_PIXELS = 64_000_000
_MAX_BYTES = 64 * 1024 * 1024


class FetchError(Exception):
    """A failed fetch; ``reason`` is a short machine-readable code, ``transient`` whether a retry may help."""

    def __init__(self, reason: str, detail: str, transient: bool) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.transient = transient


@dataclass(frozen=True)
class FetchResult:
    """One URL's outcome: ``path`` is its cached image when ``ok``, else ``reason``/``detail`` say why."""

    url: str
    path: Path | None = None
    reason: str | None = None
    detail: str | None = None
    from_cache: bool = False
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class FetchSettings:
    """How to fetch: per-request timeout (s), retries after the first try, backoff base (s), jitter seed."""

    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    seed: int = 0


def check_image(data: bytes) -> str:
    """Return the image format (``JPEG``, ``PNG``, …) of ``data`` if it fully decodes.

    Raises:
        FetchError: ``not_an_image`` if PIL cannot identify it, ``corrupt_image`` if it does not decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or "unknown"
            if img.width * img.height > _MAX_PIXELS:
                raise FetchError("corrupt_image", f"{img.width}x{img.height} pixels is too large", False)
            img.verify()  # structure and checksums; the image is unusable afterwards
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # decodes every pixel: catches truncated data that verify() lets through
    except UnidentifiedImageError:
        raise FetchError("not_an_image", f"{len(data)} bytes that are not an image", False) from None
    except FetchError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise FetchError("corrupt_image", f"{type(exc).__name__}: {exc}", False) from None
    return fmt


class ImageCache:
    """Original image bytes on disk, one file per URL, named by ``sha256(url)``, sharded by its first byte."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def path_for(self, url: str) -> Path:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        return self.root / key[:2] / key

    def get(self, url: str) -> Path | None:
        """The cached file of ``url``, or None. Only checked images are ever stored, so a hit is trusted."""
        path = self.path_for(url)
        return path if path.is_file() and path.stat().st_size > 0 else None

    def put(self, url: str, data: bytes) -> Path:
        """Store ``data`` atomically: concurrent writers and crashes never leave a partial file."""
        return write_atomic(self.path_for(url), data)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and a rename: the old file or the new, never half.

    Creates missing parent dirs. Used for cached images, fitted profiles and reports alike.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def backoff_delays(url: str, settings: FetchSettings) -> list[float]:
    """Sleep before each retry: ``backoff * 2**k`` scaled by a jitter in [0.5, 1.5) seeded by (seed, url)."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(url.encode("utf-8"))])
    jitter = rng.uniform(0.5, 1.5, size=settings.retries)
    return [float(settings.backoff * 2**k * j) for k, j in enumerate(jitter)]


def _get_once(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) checked by caller)
            declared = response.headers.get("Content-Length")
            data = _read_body(response)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError(
            f"http_{exc.code}", f"HTTP {exc.code} {exc.reason}", exc.code in _TRANSIENT_HTTP
        ) from None
    except TimeoutError as exc:
        raise FetchError("timeout", f"no answer within {timeout:g} s ({exc})", True) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise FetchError("timeout", f"no answer within {timeout:g} s", True) from None
        raise FetchError("connection_error", str(exc.reason), True) from None
    except http.client.IncompleteRead as exc:
        raise FetchError("truncated", f"body ended after {len(exc.partial)} bytes", True) from None
    except (http.client.HTTPException, ConnectionError, OSError) as exc:
        raise FetchError("connection_error", f"{type(exc).__name__}: {exc}", True) from None
    if declared is not None and declared.isdigit() and len(data) < int(declared):
        # The connection closed early: a network hiccup, worth another try.
        raise FetchError("truncated", f"got {len(data)} of {declared} bytes", True)
    return data


def _read_body(response: http.client.HTTPResponse) -> bytes:
    chunks, size = [], 0
    while chunk := response.read(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > _MAX_BYTES:
            raise FetchError("too_large", f"more than {_MAX_BYTES} bytes", False)
    return b"".join(chunks)


def fetch_image(
    url: str,
    cache: ImageCache,
    settings: FetchSettings = FetchSettings(),
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Return ``url``'s image from the cache, or download, check and cache it, retrying transient failures."""
    cached = cache.get(url)
    if cached is not None:
        return FetchResult(url, path=cached, from_cache=True)
    delays = backoff_delays(url, settings)
    attempt = 0
    while True:
        attempt += 1
        try:
            data = _get_once(url, settings.timeout)
            check_image(data)
        except FetchError as exc:
            if exc.transient and attempt <= settings.retries:
                sleep(delays[attempt - 1])
                continue
            return FetchResult(url, reason=exc.reason, detail=exc.detail, attempts=attempt)
        return FetchResult(url, path=cache.put(url, data), attempts=attempt)


def download_workers(requested: int) -> int:
    """Download threads for ``--workers requested``: as asked, or for 0 four per CPU core and at least 8
    (a download waits on the network, not on the CPU)."""
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(8, 4 * cores)


def fetch_all(
    urls: Iterable[str],
    cache: ImageCache,
    settings: FetchSettings = FetchSettings(),
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, FetchResult]:
    """Fetch every distinct URL with at most ``workers`` threads; never raises for one bad URL.

    Args:
        progress: called with 1 after each URL finishes (a progress bar's ``update``).

    Returns:
        ``{url: FetchResult}`` for every distinct URL.
    """
    unique = list(dict.fromkeys(urls))
    results: dict[str, FetchResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
        futures = {pool.submit(fetch_image, url, cache, settings, sleep): url for url in unique}
        for future in as_completed(futures):
            url = futures[future]
            try:
                results[url] = future.result()
            except Exception as exc:  # a bug in one fetch must not lose every other image
                results[url] = FetchResult(url, reason="error", detail=f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(1)
    return results
