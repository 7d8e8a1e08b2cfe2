"""A comparison (``leaderboard.build_comparison``'s dict) as Markdown for a pull request and as terminal text.

Both show the figures of comparison.json, formatted by ``reports.html`` as the HTML page formats them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from contracts.metrics import HEADLINE
from reports.html import arrow, format_ci, format_delta, format_delta_ci, format_p, format_value

MARKDOWN_MARK = "<!-- comparison written by evaluate compare (phi3v-catalogue) -->"
SIGN = {"better": "▲", "worse": "▼"}
SHORT = {"better": "better", "worse": "worse", "no significant difference": "no sig. diff.",
         "not comparable": "n/a"}  # fmt: skip


def is_our_markdown(path: Path) -> bool:
    """Whether ``path`` is a comparison.md this project wrote (its first line)."""
    try:
        with path.open(encoding="utf-8") as fh:
            return fh.readline().strip() == MARKDOWN_MARK
    except (OSError, UnicodeDecodeError):
        return False


def headline_metrics(comparison: Mapping) -> list[dict]:
    """The metrics the leaderboard shows: the ranking metric first, then the other headline metrics."""
    by_name = {m["name"]: m for m in comparison["metrics"]}
    names = [comparison["rank_by"], *(n for n in HEADLINE if n != comparison["rank_by"])]
    return [by_name[n] for n in names if n in by_name]


def rank_label(row: Mapping) -> str:
    return "ceiling" if row["role"] == "ceiling" else str(row["rank"])


def system_label(row: Mapping) -> str:
    return row["name"] + (" (reference)" if row["reference"] else "")


def describe(comparison: Mapping, escape=str) -> str:
    """One sentence: the rows, the ranking, the reference, the method (``escape`` applied to the names)."""
    boot = comparison["bootstrap"]
    fingerprint = str((comparison.get("dataset") or {}).get("fingerprint") or "")[:12]
    data = f" of dataset {fingerprint}" if fingerprint else ""
    split = f"the {comparison['split']} split" if comparison.get("split") else "the same rows"
    rank_by = next(m["label"] for m in comparison["metrics"] if m["name"] == comparison["rank_by"])
    return (
        f"{comparison['n']} rows of {split}{data}, every system on the same rows. Ranked by {rank_by}. "
        f"95% intervals: paired bootstrap ({boot['n_resamples']} resamples, seed {boot['seed']}). "
        f"Verdicts against the reference {escape(comparison['reference'])}: "
        f"Holm-adjusted p < {comparison['alpha']:g} "
        "(McNemar's exact test for category accuracy, the paired bootstrap test for the other metrics)."
    )


# -- Markdown -------------------------------------------------------------------------------------------


def _md(text: object) -> str:
    """Text safe in a Markdown table cell: no line breaks, pipes and markup characters escaped."""
    flat = " ".join(str(text).split())
    return re.sub(r"([\\`*_{}\[\]<>|#!~])", r"\\\1", flat)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def to_markdown(comparison: Mapping) -> str:
    """The leaderboard, the paired differences and the per-category verdicts as GitHub Markdown."""
    heads = headline_metrics(comparison)
    out = [MARKDOWN_MARK, "", f"### Leaderboard ({comparison['n']} rows)", "", describe(comparison, _md),
           "▲ / ▼: significantly better / worse than the reference; **bold**: the best value among the "
           "systems (a ceiling excluded).", ""]  # fmt: skip
    rows = []
    for row in comparison["leaderboard"]:
        cells = []
        for m in heads:
            cell = row["metrics"][m["name"]]
            value = format_value(cell["value"], m["fmt"])
            value = f"**{value}**" if cell["best"] else value
            mark = SIGN.get(cell.get("verdict") or "", "")
            ci = format_ci(cell["ci95"], m["fmt"])
            cells.append(f"{value}{' ' + mark if mark else ''} {ci}".strip())
        rows.append([rank_label(row), _md(system_label(row)), row["role"], *cells])
    header = ["#", "system", "role", *(f"{_md(m['label'])} {arrow(m['higher_is_better'])}" for m in heads)]
    out += _table(header, rows)
    comparisons = comparison["comparisons"]
    if comparisons:
        out += ["", f"### Paired differences to {_md(comparison['reference'])}", "",
                "Each cell: difference (system − reference) [95% interval], p (Holm-adjusted p), verdict.",
                ""]  # fmt: skip
        body = []
        for i, m in enumerate(comparison["metrics"]):
            cells = []
            for c in comparisons:
                d = c["metrics"][i]
                cells.append(
                    f"{format_delta(d['difference'], m['fmt'])} {format_delta_ci(d['ci95'], m['fmt'])}, "
                    f"p {format_p(d['p_value'])} ({format_p(d['p_holm'])}), {SHORT[d['verdict']]}"
                )
            body.append([f"{_md(m['label'])} {arrow(m['higher_is_better'])}", *cells])
        out += _table(["metric", *(_md(c["system"]) for c in comparisons)], body)
        out += ["", "Category accuracy per category (McNemar's exact test, Holm across categories):", ""]
        for c in comparisons:
            out.append(f"- {_md(c['system'])}: {_category_summary(c)}")
    for note in comparison.get("notes", []):
        out += ["", f"> {_md(note)}"]
    return "\n".join(out) + "\n"


def _category_summary(c: Mapping, escape=_md) -> str:
    cats = c["per_category"]
    better = [r for r in cats if r["verdict"] == "better"]
    worse = [r for r in cats if r["verdict"] == "worse"]
    rest = len(cats) - len(better) - len(worse)
    parts = [f"{len(better)} better, {len(worse)} worse, {rest} no significant difference of {len(cats)}"]
    for word, found in (("better", better), ("worse", worse)):
        if found:
            parts.append(f"{word}: " + ", ".join(
                f"{escape(r['category'])} ({format_delta(r['difference'], 'pct')}, p {format_p(r['p_holm'])})"
                for r in found))  # fmt: skip
    return "; ".join(parts)


# -- terminal -------------------------------------------------------------------------------------------


def to_terminal(comparison: Mapping) -> str:
    """The leaderboard (headline metrics, no intervals) and each comparison's verdicts, as plain text."""
    heads = headline_metrics(comparison)
    names = [system_label(r) for r in comparison["leaderboard"]]
    width = max(12, *(len(n) + 2 for n in names))
    cols = [max(11, len(m["label"]) + 3) for m in heads]
    lines = [describe(comparison), ""]
    titles = [f"{m['label']} {arrow(m['higher_is_better'])}" for m in heads]
    lines.append(
        "#".ljust(9) + "system".ljust(width) + "".join(t.rjust(c) for t, c in zip(titles, cols, strict=True))
    )
    for row, name in zip(comparison["leaderboard"], names, strict=True):
        cells = []
        for m in heads:
            cell = row["metrics"][m["name"]]
            mark = SIGN.get(cell.get("verdict") or "", " ") + ("*" if cell["best"] else " ")
            cells.append(format_value(cell["value"], m["fmt"]) + mark)
        lines.append(rank_label(row).ljust(9) + name.ljust(width)
                     + "".join(v.rjust(c) for v, c in zip(cells, cols, strict=True)))  # fmt: skip
    lines.append("▲ / ▼ significantly better / worse than the reference; * best (the ceiling excluded)")
    label_width = max(len(m["label"]) for m in comparison["metrics"]) + 4
    for c in comparison["comparisons"]:
        summary = c["summary"]
        lines += ["", f"{c['system']} vs {c['reference']}: better on {len(summary['better'])}, worse on "
                  f"{len(summary['worse'])} of {len(c['metrics'])} metrics"]  # fmt: skip
        for m, d in zip(comparison["metrics"], c["metrics"], strict=True):
            diff = f"{format_delta(d['difference'], m['fmt'])} {format_delta_ci(d['ci95'], m['fmt'])}"
            test = "McNemar" if d["test"] == "McNemar exact" else "bootstrap"
            lines.append(
                f"  {(m['label'] + ' ' + arrow(m['higher_is_better'])).ljust(label_width)}{diff.ljust(34)}"
                f"p {format_p(d['p_value']).ljust(7)}({test}) Holm {format_p(d['p_holm']).ljust(7)}"
                f"{d['verdict']}"
            )
        lines.append(f"  per category: {_category_summary(c, escape=str)}")
    for note in comparison.get("notes", []):
        lines += ["", f"note: {note}"]
    return "\n".join(lines)
