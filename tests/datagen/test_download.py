"""The image fetcher: cache, retries of transient failures only, image checks, bounded concurrency."""

from __future__ import annotations

import os

import pytest

from datagen.real.download import (
    FetchError,
    FetchSettings,
    ImageCache,
    backoff_delays,
    check_image,
    fetch_all,
    fetch_image,
)
from tests.datagen.fixtures_real import image_server, jpeg_bytes

FAST = FetchSettings(timeout=0.2, retries=2, backoff=0.001, seed=0)


@pytest.fixture
def server():
    with image_server(slow_s=0.6) as srv:
        yield srv


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def test_check_image_tells_non_images_from_corrupt_ones():
    """A JPEG passes; text is not_an_image; half a JPEG is corrupt_image."""
    good = jpeg_bytes("a")
    assert check_image(good) == "JPEG"
    with pytest.raises(FetchError) as not_image:
        check_image(b"<html></html>")
    assert not_image.value.reason == "not_an_image" and not not_image.value.transient
    with pytest.raises(FetchError) as corrupt:
        check_image(good[: len(good) // 2])
    assert corrupt.value.reason == "corrupt_image"


def test_fetch_caches_and_second_fetch_makes_no_request(server, cache):
    """A fetched image is cached under sha256(url); fetching it again reads the cache, not the server."""
    url = server.url("ok", "a")
    first = fetch_image(url, cache, FAST)
    assert first.ok and not first.from_cache and first.attempts == 1
    assert first.path == cache.path_for(url) and first.path.read_bytes() == jpeg_bytes("a")
    second = fetch_image(url, cache, FAST)
    assert second.ok and second.from_cache
    assert server.count("ok", "a") == 1
    assert not list(cache.path_for(url).parent.glob(".*tmp-*"))  # no temporary file left behind


def test_404_is_not_retried(server, cache):
    """A 404 is permanent: one request, reason http_404, nothing cached."""
    result = fetch_image(server.url("missing", "x"), cache, FAST)
    assert not result.ok and result.reason == "http_404"
    assert server.count("missing", "x") == 1
    assert cache.get(server.url("missing", "x")) is None


def test_500_then_ok_is_retried_after_the_seeded_backoff(server, cache):
    """A 500 is transient: the retry succeeds, after sleeping the first delay of the seeded schedule."""
    url = server.url("flaky", "y")
    sleeps: list[float] = []
    result = fetch_image(url, cache, FAST, sleep=sleeps.append)
    assert result.ok and result.attempts == 2
    assert sleeps == backoff_delays(url, FAST)[:1]
    assert server.count("flaky", "y") == 2


@pytest.mark.parametrize(
    ("route", "reason", "requests"),
    [
        ("slow", "timeout", 3),
        ("truncated", "truncated", 3),
        ("error", "http_503", 3),
        ("cut", "corrupt_image", 1),
        ("text", "not_an_image", 1),
    ],
)
def test_failures_are_classified_and_only_transient_ones_retried(server, cache, route, reason, requests):
    """Timeouts, truncated bodies and 5xx are retried (1 + 2 tries); corrupt images and non-images are not."""
    result = fetch_image(server.url(route, "z"), cache, FAST, sleep=lambda s: None)
    assert not result.ok and result.reason == reason and result.detail
    assert result.attempts == requests
    assert server.count(route, "z") == requests


def test_backoff_schedule_is_exponential_and_reproducible():
    """Delays double (within the jitter band) and depend only on (seed, url)."""
    settings = FetchSettings(retries=4, backoff=1.0, seed=7)
    delays = backoff_delays("http://x/a", settings)
    assert delays == backoff_delays("http://x/a", settings)
    assert delays != backoff_delays("http://x/b", settings)
    assert all(0.5 * 2**k <= d < 1.5 * 2**k for k, d in enumerate(delays))


def test_fetch_all_dedupes_urls_and_bounds_concurrency(server, cache):
    """Each distinct URL is fetched once, with at most `workers` requests in flight."""
    urls = [server.url("ok", f"n{i}") for i in range(12)]
    results = fetch_all(urls + urls[:3], cache, FAST, workers=3)
    assert set(results) == set(urls) and all(r.ok for r in results.values())
    assert server.total == 12
    assert 1 < server.max_active <= 3


def test_damaged_cache_entry_is_fetched_again(server, cache):
    """An empty cached file (a crash outside our atomic write) counts as a miss."""
    url = server.url("ok", "d")
    cache.path_for(url).parent.mkdir(parents=True)
    cache.path_for(url).write_bytes(b"")
    result = fetch_image(url, cache, FAST)
    assert result.ok and not result.from_cache and server.count("ok", "d") == 1


def test_workers_0_means_automatic_as_for_synth():
    """--workers 0 is the automatic choice in every datagen command: for downloads, 4 per core, at least 8."""
    from datagen.real.download import download_workers

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert download_workers(0) == max(8, 4 * cores) and download_workers(3) == 3
