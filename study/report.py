"""`study report DIR`: gather the finished cells of a study dir into one HTML page, results.json and a
Markdown table. Only cells of the study as last run count (a dropped cell's files stay, outside the report);
a cell still running or not yet run is listed as missing. Written at the end of every `study run` too.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from contracts.errors import UserError
from contracts.outputs import STUDY_PAGE, OutputLock, check_replaceable_file, our_page, write_files_atomically
from study.aggregate import best_groups, group_cells, learning_curves, sources_side_by_side
from study.cell import read_cell

REPORT_FILE, RESULTS_FILE, MARKDOWN_FILE = "report.html", "results.json", "results.md"
CURVE_METRICS = ("category_accuracy", "title_token_sort_ratio_mean", "price_median_ape")


def gather(out: Path) -> dict[str, Any]:
    """The study dir's state, its finished cells (record + metrics) and its systems' metrics.

    Raises:
        UserError: ``out`` holds no study.
    """
    from study.run import CELLS, STATE_FILE, SYSTEMS

    state_path = out / STATE_FILE
    if not state_path.is_file():
        raise UserError(
            f"{out} holds no study ({STATE_FILE} is missing): run `study run FILE --out {out}` first"
        )
    state = json.loads(state_path.read_text(encoding="utf-8"))
    finished, missing = [], []
    for cell_id in _grid_order(out, state):
        definition = state["cells"][cell_id]
        record = read_cell(out / CELLS / cell_id)
        doc = _read_json(out / CELLS / cell_id / "eval" / "metrics.json")
        if record is None or record.get("definition") != definition or doc is None:
            missing.append(cell_id)
            continue
        finished.append({"record": record, "metrics": doc["metrics"], "n": doc.get("n")})
    systems = []
    for entry in sorted((out / SYSTEMS).glob("*.json")) if (out / SYSTEMS).is_dir() else []:
        doc = _read_json(entry.with_suffix("") / "metrics.json")
        record = _read_json(entry)
        if doc is not None and record is not None:
            systems.append({"name": record["system"], "metrics": doc["metrics"], "n": doc.get("n")})
    return {"out": out, "state": state, "cells": finished, "missing": missing, "systems": systems}


def _grid_order(out: Path, state: dict) -> list[str]:
    """The cells in the study file's order: sets, recipes, seeds (study.json keeps its keys sorted)."""
    order = state.get("order")
    if not isinstance(order, list):  # a study dir of an earlier version: the order of its file
        from study.spec import cells, load_study

        try:
            order = [c.id for c in cells(load_study(out / "study.yaml"))]
        except UserError:
            order = []
    known = [c for c in order if c in state["cells"]]
    return known + sorted(c for c in state["cells"] if c not in known)


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def summarize(gathered: dict[str, Any]) -> dict[str, Any]:
    """results.json: groups with means and intervals, the best group per metric, learning curves, the
    data sources side by side, the systems, and every cell's record."""
    from contracts.metrics import HEADLINE, METRICS_BY_NAME

    names = list(HEADLINE)
    groups = group_cells(gathered["cells"], names)
    state = gathered["state"]
    specs = {n: {"higher_is_better": METRICS_BY_NAME[n].higher_is_better} for n in names}
    reference, verdicts = _verdicts(
        gathered["out"], groups, gathered["cells"], state["study"].get("reference"), specs
    )
    return {
        "title": state["title"],
        "study": state["study"],
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": {
            n: {
                "label": METRICS_BY_NAME[n].label,
                "higher_is_better": METRICS_BY_NAME[n].higher_is_better,
                "fmt": METRICS_BY_NAME[n].fmt,
            }
            for n in names
        },
        "groups": groups,
        "best": best_groups(groups, {n: METRICS_BY_NAME[n].higher_is_better for n in names}),
        "curves": {n: learning_curves(groups, n) for n in CURVE_METRICS},
        "sources": [
            {"group": g["group"], "curve": g["curve"], "recipe": g["recipe"], "train_rows": g["train_rows"]}
            for g in sources_side_by_side(groups)
        ],
        "systems": [
            {"name": s["name"], "n": s["n"], "metrics": {n: s["metrics"].get(n) for n in names}}
            for s in gathered["systems"]
        ],
        "reference": reference,
        "verdicts": verdicts,
        "cells": [c["record"] for c in gathered["cells"]],
        "missing": gathered["missing"],
    }


def _verdicts(out: Path, groups: list[dict], cells: list[dict], reference: str | None, metrics: dict):
    """Each group against the reference group (the study's ``reference:``, else the first group)."""
    from study.run import CELLS
    from study.verdicts import compare_groups, row_verdicts

    names = [g["group"] for g in groups]
    if len(names) < 2:
        return None, None
    reference = reference if reference in names else names[0]
    records = [c["record"] for c in cells]
    rows = row_verdicts(records, reference, out / CELLS)
    return reference, compare_groups(groups, reference, metrics, rows)


def build_context(results: dict[str, Any]) -> dict[str, Any]:
    """The template's context: plain rows and plots, no numbers computed here beyond formatting."""
    from reports import plots

    metrics = results["metrics"]
    columns = [{"name": n, **spec} for n, spec in metrics.items()]
    rows = []
    for g in results["groups"]:
        cells = []
        for n in metrics:
            m = g["metrics"][n]
            cells.append(
                {
                    "value": m["mean"],
                    "ci95": m["ci95"],
                    "best": g["group"] in results["best"][n],
                    "sd": m["sd"],
                    "n": m["n"],
                }
            )
        rows.append(
            {
                **{k: g[k] for k in ("group", "train_set", "recipe", "curve", "train_rows", "seeds")},
                "interval": next(
                    (g["metrics"][n]["interval"] for n in metrics if g["metrics"][n]["interval"]), None
                ),
                "seconds": g["seconds"],
                "peak_memory_mib": g["peak_memory_mib"],
                "cells": cells,
            }
        )
    plots_ = []
    for n, lines in results["curves"].items():
        if not lines:
            continue
        xs = [p["rows"] for points in lines.values() for p in points]
        scale = 100 if metrics.get(n, {}).get("fmt") == "pct" else 1
        data = {
            label: [
                (
                    p["rows"],
                    _scaled(p["mean"], scale),
                    *(_scaled(v, scale) for v in (p["ci95"] or (None, None))),
                )
                for p in points
            ]
            for label, points in lines.items()
        }
        label = metrics[n]["label"] + (" (%)" if scale == 100 else "")
        plots_.append(
            {
                "title": f"{metrics[n]['label']} against training rows",
                "uri": plots.line_chart(
                    data,
                    title=label,
                    xlabel="training rows",
                    ylabel=label,
                    log_x=bool(xs) and max(xs) >= 5 * max(1, min(xs)),
                ),
                "caption": "One line per data source; bands are each group's 95% interval.",
            }
        )
    by_group = {g["group"]: g for g in rows}
    systems = [
        {
            "name": s["name"],
            "n": s["n"],
            "cells": [
                {
                    "value": (s["metrics"][n] or {}).get("value"),
                    "ci95": (s["metrics"][n] or {}).get("ci95"),
                    "best": False,
                }
                for n in metrics
            ],
        }
        for s in results["systems"]
    ]
    return {
        "title": f"Study: {results['title']}",
        "subtitle": f"{len(results['cells'])} cell(s) finished, {len(results['missing'])} missing",
        "generated_at": results["generated_at"],
        "generator": "study report",
        "columns": columns,
        "groups": rows,
        "plots": plots_,
        "sources": [
            {**s, "cells": by_group[s["group"]]["cells"]}
            for s in results["sources"]
            if s["group"] in by_group
        ],
        "systems": systems,
        "missing": results["missing"],
        "verdicts": _verdict_context(results),
        "cells": [
            {
                **c,
                "train_fingerprint": c["train_fingerprint"][:12],
                "test_fingerprint": c["test_fingerprint"][:12],
            }
            for c in results["cells"]
        ],
        "study": results["study"],
    }


def _verdict_context(results: dict[str, Any]) -> dict[str, Any] | None:
    """The verdicts as table rows: per group, one row per metric."""
    from reports.html import format_ci, format_delta

    if not results.get("verdicts"):
        return None
    metrics = results["metrics"]
    pairs = []
    for comparison in results["verdicts"]:
        rows = []
        for m in comparison["metrics"]:
            fmt = metrics[m["metric"]]["fmt"]
            interval = m["ci95"]
            seen = [v for v in m["row_verdicts"] if v]
            rows.append(
                {
                    "metric": metrics[m["metric"]]["label"],
                    "difference": format_delta(m["difference"], "pct" if fmt == "pct" else fmt),
                    "interval": format_ci([v * 100 for v in interval], "float1") + " pp"
                    if interval and fmt == "pct"
                    else (format_ci(interval, fmt) or "—"),
                    "p": f"{m['p_holm']:.3g}" if m["p_holm"] is not None else "—",
                    "verdict": m["verdict"],
                    "rows": ", ".join(
                        f"{v} {seen.count(v)}/{len(m['row_verdicts'])}" for v in sorted(set(seen))
                    )
                    or "—",
                }
            )
        seeds = comparison["seeds"]
        pairs.append(
            {
                "title": f"{comparison['group']} against {comparison['reference']} "
                f"({len(seeds)} matched seed{'s' if len(seeds) != 1 else ''})",
                "rows": rows,
            }
        )
    return {
        "note": (
            "Each group against the reference group, seed by seed (the same seed, the same test rows). "
            "The difference is the mean over matched seeds of (group − reference); with two or more "
            "seeds its 95% interval and p come from the paired t-test over seeds (scipy's ttest_rel), "
            "Holm-adjusted across the metrics, so a verdict says the gap exceeds what another seed gives. "
            "With one seed the verdict is the harness's paired test over test rows, which says nothing of "
            "seed noise. The last column gives each seed's paired verdict over test rows (bootstrap; "
            "McNemar for category accuracy). Few seeds make a weak test: three seeds leave the t-test "
            "two degrees of freedom."
        ),
        "columns": [
            {"key": "metric", "label": "metric"},
            {"key": "difference", "label": "difference (group − reference)"},
            {"key": "interval", "label": "95% interval"},
            {"key": "p", "label": "p (Holm)"},
            {"key": "verdict", "label": "verdict over seeds"},
            {"key": "rows", "label": "per-seed verdicts over rows"},
        ],
        "pairs": pairs,
    }


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value) * scale


def markdown(results: dict[str, Any]) -> str:
    """The groups as a Markdown table (mean ± half of the 95% interval), to paste into a pull request."""
    from reports.html import format_value

    metrics = results["metrics"]
    head = [
        "group",
        "rows",
        "seeds",
        *(spec["label"] + (" ↑" if spec["higher_is_better"] else " ↓") for spec in metrics.values()),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in results["groups"]:
        cells = []
        for n, spec in metrics.items():
            m = g["metrics"][n]
            text = format_value(m["mean"], spec["fmt"])
            if m["ci95"]:
                half = (m["ci95"][1] - m["ci95"][0]) / 2
                text += f" ± {format_value(half, spec['fmt'])}"
            if g["group"] in results["best"][n]:
                text = f"**{text}**"
            cells.append(text)
        lines.append(
            "| " + " | ".join([g["group"], str(g["train_rows"]), str(len(g["seeds"])), *cells]) + " |"
        )
    return "\n".join(lines) + "\n"


def write_report(out: str | Path) -> Path:
    """Write OUT/report.html, results.json and results.md from what has finished; return the HTML's path.

    Raises:
        UserError: ``out`` holds no study, or a report there that this project did not write.
    """
    from reports.html import render_study

    out = Path(out).expanduser().absolute()
    results = summarize(gather(out))
    html = render_study(build_context(results))
    page = out / REPORT_FILE
    with OutputLock(page, "--out").acquire(wait=True):  # the jobs of a study may end at the same time
        check_replaceable_file(page, our_page(STUDY_PAGE), overwrite=True, what="study report", flag="--out")
        write_files_atomically(
            {
                out / RESULTS_FILE: (
                    json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
                ).encode(),
                out / MARKDOWN_FILE: markdown(results).encode("utf-8"),
                page: html.encode("utf-8"),
            },
            flag="--out",
        )
    return page
