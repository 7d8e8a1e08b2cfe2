"""The REPORT dir: its names, checking that it may be written, writing it all or nothing, reading it back.

    REPORT/report.html        self-contained report (reports.render_report)
    REPORT/metrics.json       schema_version, the systems with their metrics, dataset, split, n, config, …
    REPORT/predictions.jsonl  one row per example: every system's raw answer, parsed and scored

The three files are written to temporary siblings first and renamed only when all are complete, so a failed
run leaves the previous report (or nothing), never half of one. ``read_predictions`` reads a REPORT back for
``--from-predictions``: this schema and the one before it (one model's ``raw`` and the baselines' answers).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from contracts.errors import UserError
from contracts.outputs import (
    EVALUATION_PAGE,
    check_replaceable_file,
    json_with_keys,
    our_page,
    write_files_atomically,
)
from contracts.tracking import WANDB_DIR

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.jsonl"
# 2: every system's answer per row ("answers"), each system's metrics under "systems"; 1: one model's "raw"
# and "baselines" answers per row.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)


@dataclass
class OutputPaths:
    """Where the three report files go (all in one dir)."""

    report: Path
    metrics: Path
    predictions: Path

    @property
    def directory(self) -> Path:
        return self.report.parent


def resolve_report_path(report: str | Path, default_name: str = REPORT_FILE) -> Path:
    """The HTML file ``--report`` names, checked to be writable without creating anything yet.

    ``report`` is a file name ending in ``.html``/``.htm``, or a dir (existing, or given without a suffix),
    which gets ``default_name``.

    Raises:
        UserError: the path or an ancestor is a file, or the nearest existing ancestor is not writable.
    """
    path = Path(report).expanduser().absolute()
    if path.is_dir() or path.suffix.lower() not in (".html", ".htm"):
        path = path / default_name
    directory = path.parent
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"cannot write the report under {existing}: it is a file; choose another --report")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write into {existing} (permission denied): choose another --report")
    return path


def resolve_outputs(report: str | Path, overwrite: bool = False) -> OutputPaths:
    """The three report files ``--report`` names, checked (``resolve_report_path``, ``check_report_files``).

    Raises:
        UserError: see both functions.
    """
    path = resolve_report_path(report)
    paths = OutputPaths(path, path.parent / METRICS_FILE, path.parent / PREDICTIONS_FILE)
    check_report_files(paths, overwrite)
    return paths


def _is_predictions(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(first, dict) and "gold" in first and ("answers" in first or "raw" in first)


def check_report_files(paths: OutputPaths, overwrite: bool) -> None:
    """Refuse to replace a report file this project did not write, or one it did without ``overwrite``."""
    recognisers = {
        paths.report: our_page(EVALUATION_PAGE),
        paths.metrics: json_with_keys("schema_version", "metrics"),
        paths.predictions: _is_predictions,
    }
    for path, recognise in recognisers.items():
        check_replaceable_file(path, recognise, overwrite=overwrite, what="report file", flag="--report")


def write_report(doc: dict, rows: list[dict], page: str, paths: OutputPaths) -> None:
    """Write report.html, metrics.json and predictions.jsonl together (all three, or none)."""
    metrics = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    predictions = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    write_files_atomically(
        {
            paths.predictions: predictions.encode("utf-8"),
            paths.metrics: metrics.encode("utf-8"),
            paths.report: page.encode("utf-8"),
        },
        flag="--report",
    )


def drop_old_wandb_runs(directory: Path) -> list[str]:
    """Before an ``--overwrite`` run logs again: remove the offline W&B runs an earlier evaluate left under
    ``REPORT/wandb`` (only what wandb writes there: ``offline-run-*``, ``run-*``, ``latest-run``, its debug
    logs), so runs do not pile up. Returns the names of anything else found there, which stays."""
    folder = directory / WANDB_DIR
    if not folder.is_dir() or folder.is_symlink():
        return []
    kept = []
    for entry in folder.iterdir():
        name = entry.name
        if name.startswith(("offline-run-", "run-")) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif name in ("latest-run", "debug.log", "debug-internal.log", "debug-cli.root.log") and (
            entry.is_symlink() or entry.is_file()
        ):
            entry.unlink()
        else:
            kept.append(name)
    return kept


# -- reading a REPORT back -------------------------------------------------------------------------------


def predictions_path_of(path: str | Path) -> Path:
    path = Path(path).expanduser()
    return path / PREDICTIONS_FILE if path.is_dir() else path


def read_predictions(path: str | Path) -> tuple[list[dict], dict, list[str]]:
    """The rows of a predictions.jsonl (upgraded to this schema), the metrics.json beside it (``{}`` when it
    cannot be read) and notes on what could not be read.

    Raises:
        UserError: no such file, invalid JSON, rows without gold fields or answers, no rows, or a schema
            newer than this version reads.
    """
    path = predictions_path_of(path)
    if not path.is_file():
        raise UserError(f"no such predictions file: {path} (run `evaluate --report OUT` first)")
    rows = read_rows(path)
    doc, notes = read_metrics_beside(path)
    version = doc.get("schema_version", 1 if rows and "raw" in rows[0] else SCHEMA_VERSION)
    if version not in READABLE_SCHEMAS:
        raise UserError(
            f"{path.parent / METRICS_FILE} has schema_version {version!r}, which this version of evaluate "
            f"cannot read ({', '.join(map(str, READABLE_SCHEMAS))}): update phi3v-catalogue"
        )
    return current_rows(rows, doc, path), doc, notes


def read_rows(path: Path) -> list[dict]:
    """The JSON lines of a predictions file, as they are.

    Raises:
        UserError: unreadable, a line that is not JSON, or no rows.
    """
    rows = []
    lineno = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):  # noqa: B007 (lineno names the bad line below)
                if line.strip():
                    rows.append(json.loads(line))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{lineno}: not valid JSON ({exc.msg}): rerun the evaluation") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if not rows:
        raise UserError(f"{path} holds no predictions: rerun the evaluation")
    return rows


def current_rows(rows: list[dict], doc: dict, path: Path) -> list[dict]:
    """``rows`` in this schema (schema 1's model answer and baselines become ``answers``), checked.

    Raises:
        UserError: rows without gold fields or answers.
    """
    from evaluation.scoring import check_rows

    if rows and "answers" not in rows[0] and "raw" in rows[0]:
        rows = upgrade_rows(rows, str((doc.get("model") or {}).get("name") or path.parent.name))
    try:
        check_rows(rows)
    except ValueError as exc:
        raise UserError(f"{path}: {exc}: it is not an evaluate predictions file") from None
    return rows


def read_metrics_beside(predictions: Path) -> tuple[dict, list[str]]:
    """The metrics.json beside ``predictions`` and, where it is missing or unreadable, a note saying so."""
    path = predictions.parent / METRICS_FILE
    unknown = "the systems' details, the dataset and the split are unknown ('?') in this report"
    if not path.is_file():
        return {}, [f"{path} is missing: {unknown}"]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return {}, [f"cannot read {path} ({reason}): {unknown}"]
    if not isinstance(doc, dict):
        return {}, [f"{path} is not a metrics document: {unknown}"]
    return doc, []


def upgrade_rows(rows: list[dict], model_name: str) -> list[dict]:
    """Rows of schema 1 (the model's ``raw``, the baselines' answers) in this schema."""
    out = []
    for row in rows:
        answers = {model_name: row.get("raw"), **(row.get("baselines") or {})}
        new = {k: v for k, v in row.items() if k not in ("raw", "parsed", "scores", "baselines")}
        out.append({**new, "answers": answers})
    return out


def recorded_systems(doc: dict, rows: list[dict]) -> list[dict]:
    """What metrics.json says about each system whose answers ``rows`` hold (name, kind, spec, speed, …),
    in the rows' order; a system metrics.json does not describe gets its name alone."""
    from evaluation.scoring import system_names

    known = {s["name"]: s for s in doc.get("systems") or [] if isinstance(s, dict) and "name" in s}
    if not known:  # schema 1: the model, then the baselines
        model = doc.get("model") or {}
        if model.get("name"):
            known[model["name"]] = {**model, "speed": doc.get("speed") or {}}
        for name, entry in (doc.get("baselines") or {}).items():
            known[name] = {"name": name, "kind": "baseline", "spec": name,
                           "seconds": (entry or {}).get("seconds")}  # fmt: skip
    keep = ("metrics", "per_category", "confusion", "answered", "unanswered")
    return [
        {k: v for k, v in known.get(name, {"name": name, "kind": "?"}).items() if k not in keep}
        for name in system_names(rows)
    ]
