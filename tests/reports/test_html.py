"""Report rendering: escaping, self-containment, formatting and plot helpers."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from reports import html, plots
from reports.embed import PLACEHOLDER_URI, image_data_uri, image_data_uri_or_placeholder, thumbnail
from tests.reports.sample_context import build_report_context, comparison_context, report_context

# Anything that would make a browser fetch from the network: src/href to http(s) or protocol-relative URLs,
# CSS url() or @import of a remote resource.
_REMOTE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I
)


def test_hostile_title_is_shown_as_text():
    """A title such as <script>alert(1)</script> is escaped everywhere it appears, never executed."""
    # Run
    page = html.render_report(report_context())
    # Assert
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_comparison_escapes_hostile_names():
    """Run names and warnings in a comparison are escaped too."""
    page = html.render_comparison(comparison_context())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page


def test_report_loads_nothing_remote():
    """The page has no remote resource and a CSP that forbids fetching; images are data: URIs."""
    page = html.render_report(report_context())
    assert not _REMOTE.search(page)
    assert "default-src 'none'" in page
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith("data:image/")


def test_non_data_image_uri_becomes_placeholder():
    """A plot URI that is not an inline image (e.g. javascript:) is replaced by the placeholder."""
    page = html.render_report(report_context())
    assert "javascript:" not in page
    assert PLACEHOLDER_URI in page


@pytest.mark.slow
def test_render_is_deterministic():
    """The same context renders to the same string (plots included): reports are reproducible."""
    assert html.render_report(build_report_context()) == html.render_report(build_report_context())


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (0.1234, "pct", "12.3%"),
        (1290, "usd", "$1,290.00"),
        (-5.5, "usd", "-$5.50"),
        (None, "pct", "—"),
        (float("nan"), "float3", "—"),
        (0.12345, "float3", "0.123"),
        (83.25, "float1", "83.2"),
        (1234567, "int", "1,234,567"),
        ("N.A.", "pct", "N.A."),
    ],
)
def test_format_value(value, kind, expected):
    """Numbers are shown in their metric's unit; missing values show a dash."""
    assert html.format_value(value, kind) == expected


def test_format_delta_and_ci():
    """Deltas are signed (percentage points for shares); intervals are '[lo – hi]'."""
    assert html.format_delta(0.021, "pct") == "+2.1 pp"
    assert html.format_delta(-12.5, "usd") == "-$12.50"
    assert html.format_ci([0.1, 0.2], "pct") == "[10.0% – 20.0%]"
    assert html.format_ci(None, "pct") == ""


@pytest.mark.slow
def test_plots_are_inline_and_stable():
    """Every plot helper returns an SVG data URI, identical for identical input, and survives '$'."""
    uris = [
        plots.price_scatter([10, 100], [12, 90]),
        plots.price_scatter([], []),
        plots.histogram([0.1, 0.2, float("nan")], vlines={"median": 0.15}, xlabel="$ error"),
        plots.heatmap([[1, 0], [2, 3]], ["$A", "B"], ["$A", "B"]),
        plots.grouped_bars(["a", "b"], {"real": [0.5, 0.5], "synthetic": [0.4, 0.6]}),
    ]
    for uri in uris:
        assert uri.startswith("data:image/svg+xml;base64,")
    assert plots.price_scatter([10, 100], [12, 90]) == uris[0]


def test_thumbnail_and_placeholder(tmp_path):
    """Thumbnails fit in the box; unreadable images fall back to the placeholder instead of raising."""
    path = tmp_path / "big.jpg"
    Image.new("RGB", (640, 320), (0, 128, 255)).save(path)
    assert max(thumbnail(path, 100).size) <= 100
    assert image_data_uri(path).startswith("data:image/jpeg;base64,")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    assert image_data_uri_or_placeholder(tmp_path / "broken.jpg") == PLACEHOLDER_URI
    assert image_data_uri_or_placeholder(tmp_path / "missing.jpg") == PLACEHOLDER_URI
    assert image_data_uri_or_placeholder(None) == PLACEHOLDER_URI


def test_data_strings_are_isolated_from_their_line():
    """A title holding a right-to-left override is shown inside <bdi>, so it cannot reorder the rest of its
    line; the hostile title is isolated and escaped alike."""
    page = html.render_report(report_context())
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert str(html.isolate("abc\u202edef")) == "<bdi>abc\u202edef</bdi>"
    assert str(html.isolate("<b>")) == "<bdi>&lt;b&gt;</bdi>"


def test_p_values_and_difference_intervals_format():
    """p below a thousandth reads '<0.001'; a difference's interval is signed at both ends in its unit."""
    assert [html.format_p(p) for p in (0.0004, 0.0123, 1.0, None, float("nan"))] == [
        "<0.001", "0.012", "1.000", "—", "—"
    ]  # fmt: skip
    assert html.format_delta_ci([-0.013, 0.053], "pct") == "[-1.3 pp, +5.3 pp]"
    assert html.format_delta_ci([-12.5, 3.0], "usd") == "[-$12.50, +$3.00]"
    assert html.format_delta(-0.0, "float3") == "+0.000" and html.format_delta_ci(None) == ""


def test_leaderboard_and_verdicts_escape_hostile_names():
    """System and category names in the leaderboard, differences and per-category tables are escaped text."""
    page = html.render_comparison(comparison_context())
    assert 'id="leaderboard"' in page and 'id="differences"' in page and 'id="categories"' in page
    assert "<script" not in page.lower()
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4
