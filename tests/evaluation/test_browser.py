"""The report in a real browser (headless Chromium): it renders, shows the headline numbers, fetches nothing.

Needs Debian's ``chromium`` package (``make browser``, run by ``make test``) and the ``playwright`` Python
package (driven with ``executable_path``, so no browser download). Skipped when chromium is absent, except in
CI (``CI`` set), where its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from contracts.metrics import HEADLINE, METRICS_BY_NAME
from evaluation.config import CompareConfig, EvalConfig
from evaluation.run import evaluate
from reports.html import format_value

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and the playwright package for the report browser test")
        pytest.skip("chromium or playwright is not installed (apt-get install chromium; make browser)")
    return path


WIDTH = 1400  # the page width the reports are checked at: nothing may scroll out of sight


def _open(browser, page_path: Path, screenshot: Path) -> tuple[str, list[str]]:
    """Load a file in a fresh page 1,400 px wide; return its visible text and every URL the page requested.

    Fails when the page or any of its tables is wider than the window (columns scrolled out of sight)."""
    requests: list[str] = []
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, offline=True)
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_path.as_uri(), wait_until="load")
    page.screenshot(path=str(screenshot), full_page=True)
    text = page.inner_text("body")
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length"
    )
    page_width = page.evaluate("document.documentElement.scrollWidth")
    scrolling = page.evaluate(
        "Array.from(document.querySelectorAll('.table-wrap')).filter(w => w.scrollWidth > w.clientWidth)"
        ".map(w => (w.querySelector('table').id || w.innerText.slice(0, 40)) + ': ' + w.scrollWidth)"
    )
    context.close()
    assert broken == 0, f"{broken} images did not render"
    assert page_width <= WIDTH, f"{page_path.name} is {page_width} px wide"
    assert scrolling == [], f"{page_path.name}: tables wider than the page: {scrolling}"
    return text, requests


@pytest.mark.slow
def test_report_in_headless_chromium(eval_dataset, tmp_path):
    """Screenshots the report and the comparison; headline numbers are visible; no request but the file."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    # Setup: a report (the nearest baseline as the model, the majority baseline beside it) and a comparison
    out = tmp_path / "report"
    result = evaluate(EvalConfig(data=str(eval_dataset), model="nearest", baselines="majority", bootstrap=100,
                                 report=str(out), wandb="off", quiet=True))  # fmt: skip
    from evaluation.compare import compare

    cmp = compare(CompareConfig(inputs=(str(out),), report=str(tmp_path / "cmp.html"))).report_path
    shots = Path(os.environ.get("REPORT_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    # Run
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            text, requests = _open(browser, out / "report.html", shots / "report.png")
            cmp_text, cmp_requests = _open(browser, cmp, shots / "compare.png")
        finally:
            browser.close()
    # Assert
    assert requests == [(out / "report.html").as_uri()]
    assert cmp_requests == [cmp.as_uri()]
    for name in HEADLINE:
        shown = format_value(result.metrics[name]["value"], METRICS_BY_NAME[name].fmt)
        assert shown in text, f"{name} = {shown} not visible"
    assert "<script>alert(1)</script>" in text  # the hostile title, shown as text
    assert "majority" in cmp_text and (shots / "report.png").stat().st_size > 10_000
    # the oracle is the ceiling, shown apart; the leaderboard and verdicts are on both pages
    assert "ceiling" in text and "Leaderboard" in text and "Paired differences to nearest" in text
    assert "Paired differences to nearest" in cmp_text and "Category accuracy per category" in cmp_text
    code = str(result.rows[1]["product_code"])
    assert f"{code} · {code}.jpg" not in text  # a sample card names its product once
