"""``evaluate compare A B …``: several evaluations side by side, read from their metrics.json files only.

Each input is a report dir, its report.html, or its metrics.json. The first input is the reference: every
other value shows its difference to it. The baselines stored in the first input (scored on the same split)
can join as extra columns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from contracts.errors import UserError
from contracts.outputs import (
    COMPARISON_PAGE,
    check_replaceable_file,
    claim_output,
    our_page,
    write_files_atomically,
)
from evaluation.config import CompareConfig
from evaluation.metrics import GROUPS, METRICS, METRICS_BY_NAME
from evaluation.outputs import METRICS_FILE, resolve_report_path
from evaluation.report import metric_row

COMPARE_FILE = "compare.html"
SHARE_METRICS = ("category_accuracy", "title_share_ge_90", "title_exact_match", "price_within_25pct")


@dataclass
class Evaluation:
    """One column of the comparison."""

    name: str
    kind: str
    metrics: dict
    path: str
    doc: dict


@dataclass
class ComparisonResult:
    context: dict
    report_path: Path | None


def metrics_path_of(path: str | Path) -> Path:
    """The metrics.json an input names: itself, the one beside a report.html, or the one inside a dir."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / METRICS_FILE
    elif p.suffix.lower() in (".html", ".htm"):
        p = p.parent / METRICS_FILE
    if not p.is_file():
        raise UserError(f"no metrics.json for {path} (looked for {p}): run `evaluate --report` first")
    return p


def load_evaluation(path: str | Path) -> dict:
    """Read and check one metrics.json.

    Raises:
        UserError: missing, unreadable, or not an evaluate metrics document.
    """
    p = metrics_path_of(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {p}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict) or "model" not in doc:
        raise UserError(f"{p} is not an evaluate metrics.json (no 'model' and 'metrics')")
    return doc


def collect(inputs: Sequence[str], include_baselines: bool) -> tuple[list[Evaluation], list[str]]:
    """The columns (models, then the reference's baselines) and the warnings about comparability."""
    evaluations: list[Evaluation] = []
    docs = [(str(metrics_path_of(i)), load_evaluation(i)) for i in inputs]
    for path, doc in docs:
        model = doc.get("model") or {}
        name = str(model.get("name") or Path(path).parent.name)
        evaluations.append(Evaluation(name, str(model.get("kind") or "model"), doc["metrics"], path, doc))
    _dedupe_names(evaluations)
    if include_baselines and docs:
        path, first = docs[0]
        taken = {e.name for e in evaluations}
        for name, entry in (first.get("baselines") or {}).items():
            if name not in taken and isinstance(entry, Mapping) and isinstance(entry.get("metrics"), dict):
                evaluations.append(Evaluation(name, "baseline", entry["metrics"], path, first))
    warnings = []
    ref = docs[0][1]
    for path, doc in docs[1:]:
        for what, key in (("dataset", "fingerprint"),):
            a, b = (ref.get("dataset") or {}).get(key), (doc.get("dataset") or {}).get(key)
            if a and b and a != b:
                warnings.append(
                    f"{path} was scored on another {what} than {docs[0][0]}: numbers are not comparable"
                )
        if doc.get("split") != ref.get("split") or doc.get("n") != ref.get("n"):
            warnings.append(
                f"{path} scored split {doc.get('split')!r} ({doc.get('n')} items), the reference "
                f"{ref.get('split')!r} ({ref.get('n')} items)"
            )
    return evaluations, warnings


def _dedupe_names(evaluations: list[Evaluation]) -> None:
    seen: dict[str, int] = {}
    for e in evaluations:
        seen[e.name] = seen.get(e.name, 0) + 1
    for e in evaluations:
        if seen[e.name] > 1:
            e.name = f"{e.name} ({Path(e.path).parent.name})"


def comparison_rows(evaluations: Sequence[Evaluation], names: Sequence[str]) -> list[dict]:
    """Metric rows across the evaluations, best marked, each cell with its delta to the first column."""
    rows = []
    for name in names:
        row = metric_row(name, [e.metrics.get(name) for e in evaluations])
        ref = row["cells"][0]["value"] if row["cells"] else None
        for i, cell in enumerate(row["cells"]):
            value = cell["value"]
            if i == 0 or not _finite(value) or not _finite(ref):
                cell["delta"] = None
                continue
            cell["delta"] = value - ref
            cell["delta_good"] = (value - ref > 0) == row["higher_is_better"] or value == ref
        rows.append(row)
    return rows


def build_comparison_context(evaluations: Sequence[Evaluation], warnings: Sequence[str]) -> dict:
    """The context of ``compare.html.j2``."""
    from reports import plots

    groups = []
    for key, title in GROUPS.items():
        names = [m.name for m in METRICS if m.group == key]
        groups.append({"title": title, "rows": comparison_rows(evaluations, names)})
    series = {
        e.name: [(e.metrics.get(n) or {}).get("value") or 0.0 for n in SHARE_METRICS] for e in evaluations
    }
    chart = plots.grouped_bars(
        [METRICS_BY_NAME[n].label for n in SHARE_METRICS],
        series,
        title="Shares of items right (higher is better)",
        ylabel="share of items",
        horizontal=True,
    )
    inputs = []
    for e in evaluations:
        data = e.doc.get("dataset") or {}
        inputs.append({"name": e.name, "kind": e.kind, "path": e.path, "split": e.doc.get("split"),
                       "n": e.doc.get("n"), "fingerprint": str(data.get("fingerprint") or "")[:12],
                       "created": e.doc.get("created_at")})  # fmt: skip
    return {
        "title": f"Comparison of {len(evaluations)} evaluations",
        "subtitle": " · ".join(e.name for e in evaluations),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "generator": "evaluate compare",
        "reference": evaluations[0].name,
        "warnings": list(warnings),
        "systems": [{"name": e.name, "kind": e.kind} for e in evaluations],
        "metric_groups": groups,
        "plots": [{"title": "Shares", "uri": chart, "caption": "Each system's share of items right."}],
        "input_columns": [
            {"key": "name", "label": "name"},
            {"key": "kind", "label": "kind"},
            {"key": "split", "label": "split"},
            {"key": "n", "label": "n", "fmt": "int"},
            {"key": "fingerprint", "label": "dataset fingerprint"},
            {"key": "created", "label": "created"},
            {"key": "path", "label": "metrics.json"},
        ],
        "inputs": inputs,
    }


def compare(cfg: CompareConfig) -> ComparisonResult:
    """Build the comparison of ``cfg.inputs`` and write ``cfg.report`` (one self-contained HTML file)."""
    from reports import render_comparison

    target = None
    if cfg.report:
        target = resolve_report_path(cfg.report, COMPARE_FILE)
        check_replaceable_file(
            target, our_page(COMPARISON_PAGE), overwrite=cfg.overwrite, what="comparison", flag="--report"
        )
    evaluations, warnings = collect(cfg.inputs, cfg.baselines)
    context = build_comparison_context(evaluations, warnings)
    if target is not None:
        with claim_output(target, flag="--report"):
            check_replaceable_file(
                target, our_page(COMPARISON_PAGE), overwrite=cfg.overwrite, what="comparison", flag="--report"
            )
            write_files_atomically({target: render_comparison(context).encode("utf-8")}, flag="--report")
    return ComparisonResult(context=context, report_path=target)


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
