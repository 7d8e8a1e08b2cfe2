"""One short verdict a person can act on, from the privacy and utility figures, with its thresholds stated.

Privacy passes when every check holds against the holdout (a fresh sample of the source the fit never saw):

- exact row copies of the fit's rows no more frequent than the holdout's own (none at all when the profile
  promises it: `datagen fit --no-copies`);
- titles copied verbatim at most ``TITLE_COPY_FACTOR`` times the holdout's rate (at least
  ``TITLE_COPY_FLOOR``; none at all under the promise);
- the distance share (synthetic rows closer to the fit's rows than to the holdout) at most
  ``MAX_DISTANCE_SHARE``: SDMetrics' overfitting protection of at least 0.96.

Utility passes when the category-from-title model trained on the synthetic rows reaches ``MIN_UTILITY_RATIO``
of the real-trained model's accuracy on the same real test rows.
"""

from __future__ import annotations

MAX_DISTANCE_SHARE = 0.52
TITLE_COPY_FACTOR = 2.0
TITLE_COPY_FLOOR = 0.01
MIN_UTILITY_RATIO = 0.95
THRESHOLDS = {
    "row_copies": "at most the holdout's rate (none under --no-copies)",
    "title_copies": f"at most {TITLE_COPY_FACTOR:g} x the holdout's rate, or {TITLE_COPY_FLOOR:.0%} if more "
    "(none under --no-copies)",
    "distance_share": f"at most {MAX_DISTANCE_SHARE:.0%} (ideal 50%; SDMetrics' overfitting protection >= "
    f"{min(1.0, 2 * (1 - MAX_DISTANCE_SHARE)):.2f})",
    "utility_ratio": "category from title: synthetic-trained / real-trained accuracy >= "
    f"{MIN_UTILITY_RATIO:.2f}",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def privacy_checks(privacy: dict, promised: bool) -> list[dict]:
    """Each privacy check: name, the figure, its limit, whether it holds, and one phrase saying so."""
    rows, titles = privacy["copies"]["rows"], privacy["copies"]["titles"]
    share = privacy["distance"]["share"]
    row_limit = 0.0 if promised else rows["holdout"]
    title_limit = 0.0 if promised else max(TITLE_COPY_FACTOR * titles["holdout"], TITLE_COPY_FLOOR)
    return [
        {
            "name": "row_copies",
            "value": rows["synth"],
            "limit": row_limit,
            "ok": rows["synth"] <= row_limit,
            "text": f"rows copied {_pct(rows['synth'])} (holdout {_pct(rows['holdout'])})",
        },
        {
            "name": "title_copies",
            "value": titles["synth"],
            "limit": title_limit,
            "ok": titles["synth"] <= title_limit,
            "text": f"titles copied {_pct(titles['synth'])} (holdout {_pct(titles['holdout'])}, "
            f"limit {_pct(title_limit)})",
        },
        {
            "name": "distance_share",
            "value": share,
            "limit": MAX_DISTANCE_SHARE,
            "ok": share <= MAX_DISTANCE_SHARE,
            "text": f"distance share {_pct(share)} (ideal 50%, limit {_pct(MAX_DISTANCE_SHARE)})",
        },
    ]


def promise_check(promise: dict) -> dict:
    """The `--no-copies` promise as a check: no synthetic title equals a title of any source row."""
    n = promise["copied_titles"]
    return {
        "name": "no_copies_promise",
        "value": n,
        "limit": 0,
        "ok": n == 0,
        "text": f"--no-copies kept: none of the {promise['source_rows']:,} source titles reproduced"
        if n == 0
        else f"--no-copies broken: {n} synthetic titles equal source titles",
    }


def verdict(
    privacy: dict | None,
    utility: dict | None,
    promised: bool,
    why_no_privacy: str | None,
    promise: dict | None = None,
) -> dict:
    """The verdict: per side a status (``pass``, ``fail`` or ``not judged``), its checks, and one text.

    ``promise`` (the `--no-copies` check over every source row) is checked with or without a holdout.
    """
    out: dict = {"thresholds": THRESHOLDS}
    parts = []
    checks = privacy_checks(privacy, promised) if privacy is not None else []
    if promise is not None:
        checks.append(promise_check(promise))
    failed = [c for c in checks if not c["ok"]]
    if failed:
        out["privacy"] = {"status": "fail", "checks": checks}
        copying = any(c["name"] in ("row_copies", "title_copies") for c in failed) and not promised
        advice = "; refit with `datagen fit --no-copies`" if copying else ""
        parts.append("Not fit for sharing: " + "; ".join(c["text"] for c in failed) + advice)
    elif privacy is None:
        out["privacy"] = {"status": "not judged", "checks": checks, "reason": why_no_privacy}
        kept = f" ({checks[0]['text']})" if checks else ""
        parts.append(f"Privacy not judged: no holdout{kept}")
    else:
        out["privacy"] = {"status": "pass", "checks": checks}
        none = privacy["copies"]["rows"]["synth_count"] == privacy["copies"]["titles"]["synth_count"] == 0
        copied = "no source row or title reproduced" if none else "copies no more often than a fresh sample"
        parts.append(f"Fit for sharing: {copied}; " + "; ".join(c["text"] for c in checks[:3]))
    task = (utility or {}).get("tasks", {}).get("category_from_title")
    if task is None or task["ratio"] is None:
        out["utility"] = {"status": "not judged", "checks": []}
    else:
        ok = task["ratio"] >= MIN_UTILITY_RATIO
        check = {
            "name": "utility_ratio",
            "value": task["ratio"],
            "limit": MIN_UTILITY_RATIO,
            "ok": ok,
            "text": f"category from title {task['synth']['score']:.3f} trained on synthetic against "
            f"{task['real']['score']:.3f} on real (ratio {task['ratio']:.2f}, at least "
            f"{MIN_UTILITY_RATIO:.2f})",
        }
        out["utility"] = {"status": "pass" if ok else "fail", "checks": [check]}
        parts.append(("Useful for training: " if ok else "Less useful than real data: ") + check["text"])
    out["text"] = ". ".join(parts) + "."
    return out
