"""Render reports to one self-contained HTML string (jinja2, autoescape on): plain dicts in, ``str`` out.

The templates live in ``reports/templates``. ``_base.html.j2`` holds the page frame and the inline stylesheet;
``_macros.html.j2`` holds reusable pieces (metric cells, figures, key/value tables, galleries). A new report
extends the base, imports the macros and is rendered with ``render_template(name, context)``.

Security: every value is escaped by jinja2's autoescape, and no template applies ``|safe`` to data; data
strings shown as text go through ``|isolate`` (``<bdi>``), so right-to-left text stays within its own span.
Images and plots must be ``data:image/…`` URIs (see ``reports.embed`` and ``reports.plots``); anything else
becomes a placeholder. The page carries a Content-Security-Policy that forbids every network fetch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reports.embed import PLACEHOLDER_URI

TEMPLATES_DIR = Path(__file__).parent / "templates"


def format_value(value: Any, kind: str = "float3") -> str:
    """Format a number for display: ``pct`` 0.1234 → '12.3%', ``usd`` 1290 → '$1,290.00', None/NaN → '—'."""
    if value is None:
        return "—"
    if kind == "text" or isinstance(value, str):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "—"
    if kind == "pct":
        return f"{100 * x:.1f}%"
    if kind == "pct_points":
        return f"{100 * x:+.1f} pp"
    if kind == "usd":
        return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"
    if kind == "int":
        return f"{x:,.0f}"
    if kind == "float1":
        return f"{x:.1f}"
    if kind == "float2":
        return f"{x:.2f}"
    if kind == "ratio":
        return f"{x:.2f}×"
    return f"{x:.3f}"


def format_delta(value: Any, kind: str = "float3") -> str:
    """A signed difference in the metric's own unit: '+2.1%' reads as two percentage points for ``pct``."""
    if value is None:
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(x):
        return "—"
    if kind == "pct":
        return f"{100 * x:+.1f} pp"
    if kind == "usd":
        return f"+${x:,.2f}" if x >= 0 else f"-${-x:,.2f}"
    return ("+" if x >= 0 else "") + format_value(x, kind)


def format_ci(ci: Sequence[Any] | None, kind: str = "float3") -> str:
    """'[lo – hi]' for a two-element interval, '' when absent."""
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return ""
    return f"[{format_value(ci[0], kind)} – {format_value(ci[1], kind)}]"


def safe_image_uri(uri: Any) -> str:
    """``uri`` if it is an inline image (``data:image/…``), else the placeholder: a report never fetches."""
    if isinstance(uri, str) and uri.startswith("data:image/"):
        return uri
    return PLACEHOLDER_URI


def pretty_json(value: Any) -> str:
    """Indented JSON for metadata blocks (escaped later by autoescape like any other text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def isolate(value: Any) -> Markup:
    """``value`` as escaped text inside ``<bdi>``: a data string (a title, a category, a raw answer) holding
    right-to-left text or bidi control characters then cannot reorder the rest of its line."""
    return Markup("<bdi>{}</bdi>").format(format_value(value, "text"))


def arrow(higher_is_better: bool | None) -> str:
    """'↑' when higher is better, '↓' when lower is better."""
    if higher_is_better is None:
        return ""
    return "↑" if higher_is_better else "↓"


def make_environment() -> jinja2.Environment:
    """The jinja2 environment of every report: autoescape always on, undefined variables are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,  # templates end in .html.j2, which select_autoescape would not recognise
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=format_value,
        fmt_delta=format_delta,
        fmt_ci=format_ci,
        image_uri=safe_image_uri,
        pretty_json=pretty_json,
        arrow=arrow,
        isolate=isolate,
    )
    return env


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = make_environment()
    return _ENV


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render ``templates/<name>`` with ``context`` (a plain dict)."""
    return _env().get_template(name).render(**context)


def render_report(context: Mapping[str, Any]) -> str:
    """The evaluation report of one model against its baselines.

    Expected keys (all plain data; see ``evaluation.report.build_report_context``):
      ``title``, ``subtitle``, ``generated_at``, ``systems`` (column headers), ``headline`` and
      ``metric_groups`` (rows of ``{label, name, fmt, higher_is_better, cells: [{value, ci95, best}]}``),
      ``per_category`` (``{columns, rows}``), ``confusion`` (``{uri, top}``),
      ``plots`` (``[{title, uri, caption}]``), ``galleries`` (``[{title, note, samples}]``),
      ``metadata`` (``[[key, value]]``), ``config``, ``notes``.
    """
    return render_template("report.html.j2", {**context, "page_kind": "evaluation"})


def render_comparison(context: Mapping[str, Any]) -> str:
    """Several evaluations side by side: ``systems``, ``metric_groups`` (cells with ``delta``),
    ``warnings``, ``inputs``."""
    return render_template("compare.html.j2", {**context, "page_kind": "comparison"})


def render_study(context: Mapping[str, Any]) -> str:
    """A study's cells: ``groups`` (rows of the table, with ``cells`` per metric), ``metric_columns``,
    ``plots`` (learning curves), ``sources``, ``systems``, ``verdicts``, ``cells``, ``notes``."""
    return render_template("study.html.j2", {**context, "page_kind": "study"})
