"""Plots as inline ``data:`` URIs (matplotlib, no pyplot): a report carries its figures inside itself.

Figures are built on ``matplotlib.figure.Figure`` directly, so no global backend is switched and nothing is
shown.
SVG output is made byte-stable (fixed hash salt, no date) so the same data gives the same report.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from reports.embed import bytes_data_uri

PALETTE = ("#2f5d8a", "#c8553d", "#4f9d69", "#8e6fb5", "#d4a017", "#5f6b73", "#2a9d8f", "#b5651d")
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.hashsalt": "reports",  # stable element ids: identical inputs give identical bytes
    "svg.fonttype": "path",  # text drawn as paths: no font lookup in the browser
}
_HEAT = LinearSegmentedColormap.from_list("report_heat", ["#ffffff", "#9ecae1", "#2f5d8a", "#0b2545"])


def plain_text(text: object, max_len: int = 40) -> str:
    """``text`` safe for a matplotlib label: ``$`` escaped (no mathtext), long strings shortened with '…'."""
    s = str(text)
    if len(s) > max_len:
        s = s[: max_len - 1] + "…"
    return s.replace("$", r"\$")


def figure_to_data_uri(fig: Figure, fmt: str = "svg", dpi: int = 110) -> str:
    """Encode ``fig`` as a ``data:`` URI (``svg`` or ``png``)."""
    buf = io.BytesIO()
    if fmt == "svg":
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
        return bytes_data_uri(buf.getvalue(), "image/svg+xml")
    if fmt == "png":
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
        return bytes_data_uri(buf.getvalue(), "image/png")
    raise ValueError(f"unsupported figure format {fmt!r}: use 'svg' or 'png'")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def price_scatter(
    true: Sequence[float],
    pred: Sequence[float],
    *,
    title: str = "Predicted vs true price",
    unit: str = "USD",
    band: float = 0.25,
) -> str:
    """Log-log scatter of predicted against true values, with the diagonal and a ±``band`` corridor."""
    pairs = [(t, p) for t, p in zip(true, pred, strict=True) if _positive(t) and _positive(p)]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.2, 4.4)
        ax = fig.add_subplot()
        if pairs:
            xs, ys = zip(*pairs, strict=True)
            lo = min(min(xs), min(ys)) / 1.5
            hi = max(max(xs), max(ys)) * 1.5
            ax.fill_between(
                [lo, hi],
                [lo * (1 - band), hi * (1 - band)],
                [lo * (1 + band), hi * (1 + band)],
                color=PALETTE[2],
                alpha=0.12,
                lw=0,
                label=f"±{band:.0%}",
            )
            ax.plot([lo, hi], [lo, hi], color=PALETTE[5], lw=1, ls="--", label="exact")
            ax.scatter(xs, ys, s=12, alpha=0.6, color=PALETTE[0], edgecolors="none", label="items")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(loc="upper left", frameon=False)
        else:
            ax.text(0.5, 0.5, "no parsed prices", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"true ({plain_text(unit)}, log scale)")
        ax.set_ylabel(f"predicted ({plain_text(unit)}, log scale)")
        ax.set_title(plain_text(title, 80))
        return figure_to_data_uri(fig)


def histogram(
    values: Sequence[float],
    *,
    bins: int | Sequence[float] = 30,
    title: str = "",
    xlabel: str = "",
    vlines: Mapping[str, float] | None = None,
    color: str = PALETTE[0],
) -> str:
    """Histogram of finite ``values`` with optional labelled vertical lines (e.g. ``{"median": 0.12}``)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.2, 3.2)
        ax = fig.add_subplot()
        if finite:
            ax.hist(finite, bins=bins, color=color, alpha=0.85)
            for i, (name, x) in enumerate((vlines or {}).items()):
                if x is not None and math.isfinite(x):
                    ax.axvline(
                        x,
                        color=PALETTE[(i + 1) % len(PALETTE)],
                        lw=1.2,
                        ls="--",
                        label=f"{plain_text(name)} = {x:.3g}",
                    )
            if vlines:
                ax.legend(frameon=False)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(plain_text(xlabel, 80))
        ax.set_ylabel("items")
        ax.set_title(plain_text(title, 80))
        return figure_to_data_uri(fig)


def heatmap(
    matrix: Sequence[Sequence[float]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    annotate: bool | None = None,
) -> str:
    """A count matrix (e.g. a confusion matrix) as a heat map; cells annotated when the matrix is small."""
    n_rows, n_cols = len(row_labels), len(col_labels)
    if annotate is None:
        annotate = max(n_rows, n_cols) <= 16
    side = min(11.0, 2.5 + 0.28 * max(n_rows, n_cols))
    with matplotlib.rc_context(
        {**_STYLE, "axes.grid": False, "font.size": 8 if max(n_rows, n_cols) < 25 else 6}
    ):
        fig = _figure(side + 1.5, side)
        ax = fig.add_subplot()
        if n_rows and n_cols:
            data = [[float(v) for v in row] for row in matrix]
            peak = max((max(r) for r in data if r), default=0.0) or 1.0
            image = ax.imshow(data, cmap=_HEAT, vmin=0, vmax=peak, aspect="auto", interpolation="nearest")
            fig.colorbar(image, ax=ax, shrink=0.6)
            ax.set_xticks(
                range(n_cols),
                [plain_text(c, 24) for c in col_labels],
                rotation=60,
                ha="right",
                rotation_mode="anchor",
            )
            ax.set_yticks(range(n_rows), [plain_text(r, 24) for r in row_labels])
            if annotate:
                for i, row in enumerate(data):
                    for j, v in enumerate(row):
                        if v:
                            ax.text(
                                j,
                                i,
                                f"{v:g}",
                                ha="center",
                                va="center",
                                fontsize=7,
                                color="white" if v > peak / 2 else "black",
                            )
        else:
            ax.text(0.5, 0.5, "empty", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(plain_text(xlabel, 80))
        ax.set_ylabel(plain_text(ylabel, 80))
        ax.set_title(plain_text(title, 80))
        return figure_to_data_uri(fig)


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    ylabel: str = "",
    horizontal: bool | None = None,
) -> str:
    """Bars for named series over the same categories (real vs synthetic shares, model vs baseline)."""
    n_cat, n_series = len(categories), max(len(series), 1)
    if horizontal is None:
        horizontal = n_cat > 8
    width = 0.8 / n_series
    with matplotlib.rc_context(_STYLE):
        fig = _figure(6.4, max(3.0, 0.22 * n_cat * (1 if n_series < 3 else 1.4) + 1.0) if horizontal else 3.6)
        ax = fig.add_subplot()
        for k, (name, values) in enumerate(series.items()):
            offsets = [i - 0.4 + width * (k + 0.5) for i in range(n_cat)]
            vals = [float(v) if v is not None and math.isfinite(float(v)) else 0.0 for v in values]
            color = PALETTE[k % len(PALETTE)]
            if horizontal:
                ax.barh(offsets, vals, height=width, label=plain_text(name), color=color)
            else:
                ax.bar(offsets, vals, width=width, label=plain_text(name), color=color)
        labels = [plain_text(c, 28) for c in categories]
        if horizontal:
            ax.set_yticks(range(n_cat), labels)
            ax.invert_yaxis()
            ax.set_xlabel(plain_text(ylabel, 80))
        else:
            ax.set_xticks(range(n_cat), labels, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_ylabel(plain_text(ylabel, 80))
        if len(series) > 1:
            # below the axes: bars reach every edge, a legend inside would cover some
            ax.legend(
                frameon=False,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.2 if horizontal else -0.3),
                ncol=min(len(series), 4),
            )
        ax.set_title(plain_text(title, 80))
        return figure_to_data_uri(fig)


def _positive(x: float | None) -> bool:
    return x is not None and math.isfinite(float(x)) and float(x) > 0


def line_chart(
    lines: Mapping[str, Sequence[tuple[float, float, float | None, float | None]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    log_x: bool = False,
) -> str:
    """Named lines of (x, y, low, high) points, each with its interval as a band (learning curves)."""
    with matplotlib.rc_context(_STYLE):
        fig = _figure(5.6, 3.4)
        ax = fig.add_subplot()
        for k, (name, points) in enumerate(lines.items()):
            pts = sorted(p for p in points if p[1] is not None and math.isfinite(float(p[1])))
            if not pts:
                continue
            color = PALETTE[k % len(PALETTE)]
            xs, ys = [float(p[0]) for p in pts], [float(p[1]) for p in pts]
            ax.plot(xs, ys, marker="o", color=color, label=plain_text(name))
            bands = [
                (x, lo, hi)
                for x, (_, _, lo, hi) in zip(xs, pts, strict=True)
                if lo is not None and hi is not None
            ]
            if bands:
                ax.fill_between([b[0] for b in bands], [b[1] for b in bands], [b[2] for b in bands],
                                color=color, alpha=0.18, linewidth=0)  # fmt: skip
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(plain_text(xlabel, 80))
        ax.set_ylabel(plain_text(ylabel, 80))
        ax.set_title(plain_text(title, 80))
        if len(lines) > 1:
            ax.legend(frameon=False, fontsize=8)
        return figure_to_data_uri(fig)
