"""``evaluate compare A B …``: a leaderboard, paired differences and verdicts of evaluations of the same rows.

Each input is a REPORT dir, its report.html or its metrics.json; the predictions.jsonl beside it holds every
row's raw answers, which are parsed and scored again here, so that the systems are compared row by row
(``evaluation.paired``). The first input's model is the reference unless ``--reference`` names another
system, and the baselines stored in the first input join as systems: one input alone compares its model
with its baselines. Inputs scored on other rows (another dataset, split or ``--limit``) are refused.

With ``--report``, three files are written together: compare.html, comparison.json (every figure,
machine-readable) and comparison.md (the tables, for a pull request).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import UserError
from contracts.metrics import METRICS_BY_NAME, score_items
from contracts.outputs import (
    COMPARISON_PAGE,
    check_replaceable_file,
    claim_output,
    json_with_keys,
    our_page,
    write_files_atomically,
)
from contracts.task import parse_answer
from evaluation.config import CompareConfig
from evaluation.leaderboard import System, build_comparison, role_of
from evaluation.outputs import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    READABLE_SCHEMAS,
    SCHEMA_VERSION,
    current_rows,
    read_rows,
    recorded_systems,
    resolve_report_path,
)

COMPARE_FILE = "compare.html"
COMPARISON_JSON = "comparison.json"
COMPARISON_MD = "comparison.md"


@dataclass
class LoadedReport:
    """One input: its metrics document and its prediction rows (in file order)."""

    directory: Path
    doc: dict
    rows: list[dict]

    @property
    def label(self) -> str:
        return str(self.directory)


@dataclass
class ComparisonPaths:
    html: Path
    json: Path
    markdown: Path


@dataclass
class ComparisonResult:
    comparison: dict  # what comparison.json holds
    context: dict  # what compare.html draws
    markdown: str
    paths: ComparisonPaths | None

    @property
    def report_path(self) -> Path | None:
        """The compare.html written, if any."""
        return self.paths.html if self.paths else None


# -- reading --------------------------------------------------------------------------------------------


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
    """Read and check one metrics.json: its shape and its schema version.

    Raises:
        UserError: missing, unreadable, not an evaluate metrics document, or of another schema version (the
            message says how to re-score it).
    """
    p = metrics_path_of(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {p}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict) or "model" not in doc:
        raise UserError(f"{p} is not an evaluate metrics.json (no 'model' and 'metrics')")
    version = doc.get("schema_version")
    if not isinstance(version, int) or version < min(READABLE_SCHEMAS):
        raise UserError(
            f"{p} is from an older evaluate (schema version {version}, this one reads {SCHEMA_VERSION}): "
            f"re-score it with `evaluate --from-predictions {p.parent / PREDICTIONS_FILE} --report NEW_DIR` "
            "and compare NEW_DIR"
        )
    if version > SCHEMA_VERSION:
        raise UserError(
            f"{p} was written by a newer evaluate (schema version {version}, this one reads "
            f"{SCHEMA_VERSION}): update phi3v-catalogue to compare it"
        )
    return doc


def read_predictions(path: Path, doc: dict) -> list[dict]:
    """The rows of a predictions.jsonl, checked to hold what scoring needs.

    Raises:
        UserError: missing, unreadable, not JSON lines, or rows without raw answers and gold fields.
    """
    if not path.is_file():
        raise UserError(
            f"no {PREDICTIONS_FILE} beside {path.parent / METRICS_FILE}: paired statistics need every row's "
            "answer; compare whole REPORT dirs (rerun `evaluate --report` if it is gone)"
        )
    return current_rows(read_rows(path), doc, path)


def load_report(path: str | Path) -> LoadedReport:
    """One input: its metrics.json (checked) and the predictions.jsonl beside it."""
    metrics_path = metrics_path_of(path)
    doc = load_evaluation(metrics_path)
    return LoadedReport(
        metrics_path.parent, doc, read_predictions(metrics_path.parent / PREDICTIONS_FILE, doc)
    )


# -- the same rows --------------------------------------------------------------------------------------


def _row_keys(rows: Sequence[dict]) -> list[tuple]:
    """Each row's identity: its product code and which occurrence of that code it is (codes are unique in a
    DATASET dir; the occurrence keeps rows apart where they are not)."""
    seen: Counter = Counter()
    keys = []
    for row in rows:
        code = row.get("product_code", ("index", row.get("index")))
        seen[code] += 1
        keys.append((code, seen[code]))
    return keys


def rows_difference(a: LoadedReport, b: LoadedReport) -> str | None:
    """What makes ``b``'s rows other than ``a``'s, in a few words; None when they are the same rows."""
    fa, fb = ((r.doc.get("dataset") or {}).get("fingerprint") for r in (a, b))
    if fa and fb and fa != fb:
        return f"dataset fingerprint {str(fa)[:12]} vs {str(fb)[:12]}"
    if a.doc.get("split") != b.doc.get("split"):
        return f"split {a.doc.get('split')!r} vs {b.doc.get('split')!r}"
    if len(a.rows) != len(b.rows):
        la, lb = ((r.doc.get("config") or {}).get("limit") for r in (a, b))
        limits = f", --limit {la or 'none'} vs {lb or 'none'}" if la != lb else ""
        return f"{len(a.rows)} rows vs {len(b.rows)}{limits}"
    ka, kb = _row_keys(a.rows), _row_keys(b.rows)
    known = set(ka)
    missing = [k for k in kb if k not in known]
    if missing:
        return f"{len(missing)} of its rows are not in the other (first: product {missing[0][0]})"
    gold_a = {k: row["gold"] for k, row in zip(ka, a.rows, strict=True)}
    for k, row in zip(kb, b.rows, strict=True):
        if not _same_gold(gold_a[k], row["gold"]):
            return f"product {k[0]} has another gold answer"
    return None


def _same_gold(x: dict, y: dict) -> bool:
    if str(x["title"]) != str(y["title"]) or str(x["category3_code"]) != str(y["category3_code"]):
        return False
    return math.isclose(float(x["full_price"]), float(y["full_price"]), rel_tol=1e-12, abs_tol=1e-9)


def aligned_rows(reports: Sequence[LoadedReport]) -> list[list[dict]]:
    """Every input's rows in the first input's order.

    Raises:
        UserError: an input was scored on other rows (one line naming what differs).
    """
    first = reports[0]
    out = [first.rows]
    order = _row_keys(first.rows)
    for other in reports[1:]:
        what = rows_difference(first, other)
        if what:
            raise UserError(
                f"cannot compare {other.label} with {first.label}: they were scored on different rows "
                f"({what}); compare evaluations of the same DATASET dir, --split and --limit"
            )
        by_key = dict(zip(_row_keys(other.rows), other.rows, strict=True))
        out.append([by_key[k] for k in order])
    return out


# -- systems ---------------------------------------------------------------------------------------------


def _scores(answers: Sequence[str], golds: Sequence[dict]):
    return score_items([parse_answer(a) for a in answers], golds)


def collect_systems(reports: Sequence[LoadedReport], include_baselines: bool) -> list[System]:
    """Every input's models (the systems it scored that are not baselines), then the first input's
    baselines; rows aligned to the first input's."""
    rows_of = aligned_rows(reports)
    golds = [row["gold"] for row in rows_of[0]]
    picked = []  # (report, its rows, the system's record): every input's models, then the first's baselines
    for models in (True, False):
        for k, (report, rows) in enumerate(zip(reports, rows_of, strict=True)):
            recorded = recorded_systems(report.doc, rows)
            asked = _models_asked(report.doc)
            chosen = (
                recorded[:asked] if models else (recorded[asked:] if k == 0 and include_baselines else [])
            )
            picked += [(report, rows, info) for info in chosen]
    systems = []
    for report, rows, info in picked:
        name = str(info["name"])
        answers = [str(row["answers"].get(name) or "") for row in rows]
        source = {"input": report.label, "kind": info.get("kind") or "model", "spec": info.get("spec")}
        role = role_of(info.get("spec") or name, info.get("kind"))
        systems.append(System(name, _scores(answers, golds), role, source))
    _dedupe(systems, [report for report, _, _ in picked])
    return systems


def _models_asked(doc: dict) -> int:
    """How many of a report's systems its --model flags named (they come first; the baselines follow)."""
    asked = (doc.get("config") or {}).get("model")
    return len(asked) if isinstance(asked, list) and asked else 1


def _dedupe(systems: list[System], reports: Sequence[LoadedReport]) -> None:
    """Systems of the same name are told apart by the shortest end of their inputs' paths that differs
    (``run (a/eval)``, ``run (b/eval)``), else numbered."""
    counts = Counter(s.name for s in systems)
    clashing = [(s, r) for s, r in zip(systems, reports, strict=True) if counts[s.name] > 1]
    for depth in range(1, 5):
        labels = ["/".join(r.directory.absolute().parts[-depth:]) for _, r in clashing]
        tried = Counter((s.name, label) for (s, _), label in zip(clashing, labels, strict=True))
        if all(n == 1 for n in tried.values()) or depth == 4:
            break
    for (system, _), label in zip(clashing, labels, strict=True):
        system.name = f"{system.name} ({label})"
    counts = Counter(s.name for s in systems)
    for k, system in enumerate(systems, 1):
        if counts[system.name] > 1:
            system.name = f"{system.name} #{k}"


def _notes(reports: Sequence[LoadedReport], comparison: dict) -> list[str]:
    """What a reader should know: inputs without a fingerprint, stored metrics that the scorer no longer
    reproduces (the parser or a metric changed since they were written)."""
    notes = []
    for report in reports:
        if not (report.doc.get("dataset") or {}).get("fingerprint"):
            notes.append(f"{report.label} records no dataset fingerprint: its rows were matched by product "
                         "code and gold answer")  # fmt: skip
    values = {row["name"]: row["metrics"] for row in comparison["leaderboard"]}
    for report in reports:
        name = next((s["name"] for s in comparison["inputs"] if s["input"] == report.label), None)
        for metric, stored in (report.doc.get("metrics") or {}).items():
            now = (values.get(name) or {}).get(metric, {}).get("value")
            old = stored.get("value") if isinstance(stored, dict) else None
            if _finite(now) and _finite(old) and not math.isclose(now, old, rel_tol=1e-9, abs_tol=1e-12):
                label = METRICS_BY_NAME[metric].label if metric in METRICS_BY_NAME else metric
                notes.append(
                    f"{report.label}: its metrics.json says {label} {old:.4g}, its predictions score "
                    f"{now:.4g} now (the scorer changed since); the comparison uses the predictions. "
                    f"Re-score with `evaluate --from-predictions {report.directory / PREDICTIONS_FILE}`"
                )
                break
    return notes


# -- the command ------------------------------------------------------------------------------------------


def output_paths(cfg: CompareConfig) -> ComparisonPaths:
    html = resolve_report_path(cfg.report, COMPARE_FILE)
    return ComparisonPaths(html, html.parent / COMPARISON_JSON, html.parent / COMPARISON_MD)


def _check_outputs(paths: ComparisonPaths, overwrite: bool) -> None:
    from evaluation.comparison_text import is_our_markdown

    recognisers = (
        (paths.html, our_page(COMPARISON_PAGE)),
        (paths.json, json_with_keys("schema_version", "leaderboard")),
        (paths.markdown, is_our_markdown),
    )
    for path, recognise in recognisers:
        check_replaceable_file(path, recognise, overwrite=overwrite, what="comparison", flag="--report")


def compare(cfg: CompareConfig) -> ComparisonResult:
    """Compare ``cfg.inputs`` row by row; write compare.html, comparison.json and comparison.md if asked.

    Raises:
        UserError: an unreadable input, one of an older schema, inputs scored on other rows, an unknown
            ``--reference``, or report files this project did not write.
    """
    from evaluation.compare_page import build_compare_context
    from evaluation.comparison_text import to_markdown
    from reports import render_comparison

    paths = output_paths(cfg) if cfg.report else None
    if paths is not None:
        _check_outputs(paths, cfg.overwrite)
    reports = [load_report(i) for i in cfg.inputs]
    systems = collect_systems(reports, cfg.baselines)
    names = [s.name for s in systems]
    if cfg.reference is not None and cfg.reference not in names:
        raise UserError(f"--reference {cfg.reference!r} is not one of the systems: {', '.join(names)}")
    comparison = build_comparison(systems, reference=cfg.reference, n_resamples=cfg.bootstrap, seed=cfg.seed,
                                  alpha=cfg.alpha, rank_by=cfg.rank_by)  # fmt: skip
    first = reports[0].doc
    comparison["split"] = first.get("split")
    comparison["dataset"] = {k: (first.get("dataset") or {}).get(k) for k in ("path", "fingerprint")}
    comparison["inputs"] = [{"name": s.name, "role": s.role, **s.source} for s in systems]
    comparison["notes"] = [*comparison.get("notes", []), *_notes(reports, comparison)]
    context = build_compare_context(comparison)
    markdown = to_markdown(comparison)
    if paths is not None:
        page = render_comparison(context)
        data = json.dumps(comparison, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        with claim_output(paths.html, flag="--report"):
            _check_outputs(paths, cfg.overwrite)
            write_files_atomically(
                {paths.json: data.encode("utf-8"), paths.markdown: markdown.encode("utf-8"),
                 paths.html: page.encode("utf-8")},
                flag="--report",
            )  # fmt: skip
    return ComparisonResult(comparison=comparison, context=context, markdown=markdown, paths=paths)


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
