"""The fidelity report of `datagen compare`: a synthetic dataset measured against a real one, on one page.

``render_fidelity(context)`` takes the plain dict that ``datagen.fidelity.compare_datasets`` returns, plus
``images`` (``{"real": [...], "synth": [...]}``, each item ``{path, title, category, price, product_code}``),
draws the charts, embeds the sample images as data URIs and renders ``fidelity.html.j2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports import plots
from reports.embed import image_data_uri_or_placeholder
from reports.html import render_template

TOP_CATEGORIES = 25  # bars per category chart; the rest are summed into "other"
SERIES = ("real", "synthetic")


def _category_plot(column: str, data: Mapping[str, Any]) -> dict:
    values = list(data["values"])
    real, synth = list(data["real"]), list(data["synth"])
    if len(values) > TOP_CATEGORIES:
        keep = TOP_CATEGORIES - 1
        values = [*values[:keep], f"other ({len(values) - keep})"]
        real = [*real[:keep], sum(real[keep:])]
        synth = [*synth[:keep], sum(synth[keep:])]
    uri = plots.grouped_bars(
        values, {SERIES[0]: real, SERIES[1]: synth}, title=f"{column}: share of rows", ylabel="share of rows"
    )
    caption = f"TV complement {data['tv_complement']:.3f} (1 = identical shares)."
    return {"title": column, "uri": uri, "caption": caption}


def _bin_labels(edges: Sequence[float], money: bool) -> list[str]:
    def fmt(x: float) -> str:
        if not money:
            return f"{x:.0f}"
        return f"{x / 1000:.3g}k" if x >= 10_000 else f"{x:,.0f}"

    return [f"{fmt(lo)}–{fmt(hi)}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _histogram_plot(hist: Mapping[str, Any], title: str, xlabel: str, money: bool, caption: str) -> dict:
    labels = _bin_labels(hist["bin_edges"], money)
    uri = plots.grouped_bars(
        labels,
        {SERIES[0]: hist["real"], SERIES[1]: hist["synth"]},
        title=title,
        ylabel=f"share of rows ({xlabel})",
        horizontal=False,
    )
    return {"title": title, "uri": uri, "caption": caption}


def _card(label: str, value: Any, fmt: str = "float3") -> dict:
    return {"label": label, "value": value, "fmt": fmt, "ci95": None}


def _samples(items: Sequence[Mapping[str, Any]]) -> list[dict]:
    return [
        {
            "image_uri": image_data_uri_or_placeholder(item.get("path"), max_size=160),
            "title": item.get("title", ""),
            "detail": f"{item.get('category', '')} · {item.get('price', '')}",
            "code": item.get("product_code", ""),
        }
        for item in items
    ]


def build_view(context: Mapping[str, Any]) -> dict:
    """The template's context: the comparison as given, plus chart and image data URIs."""
    price, titles = context["price"], context["titles"]
    currency = price["currency"]
    money = f"{price['column']} ({currency['real']} real, {currency['synth']} synthetic)"
    charts = [_category_plot(c, d) for c, d in context["categories"].items()]
    charts.append(
        _histogram_plot(
            price["histogram"],
            f"{price['column']} distribution (log-spaced bins)",
            "price",
            True,
            f"{money}: median {price['median']['real']:,.0f} real, "
            f"{price['median']['synth']:,.0f} synthetic; KS complement {price['ks_complement']:.3f}.",
        )
    )
    charts.append(
        _histogram_plot(
            titles["length"]["histogram"],
            "title length in characters",
            "characters",
            False,
            f"KS complement {titles['length']['ks_complement']:.3f}.",
        )
    )
    quality, vocabulary = context["quality"], titles["vocabulary"]
    rows, unique = context["rows"], titles["unique_share"]
    overview_cards = [
        _card("overall score", context["overall"]["score"]),
        _card("SDMetrics quality", quality["score"]),
        _card("column shapes", quality["column_shapes"]),
        _card("column pair trends", quality["column_pair_trends"]),
        _card("titles", titles["score"]),
        _card("schema", context["schema"]["score"], "pct"),
        _card("rows real / synthetic", f"{rows['real']:,} / {rows['synth']:,}", "text"),
    ]
    title_cards = [
        _card("vocabulary coverage", vocabulary["coverage"], "pct"),
        _card("vocabulary Jaccard", vocabulary["jaccard"]),
        _card("length KS complement", titles["length"]["ks_complement"]),
        _card(
            "words real / synthetic / shared",
            f"{vocabulary['real_size']:,} / {vocabulary['synth_size']:,} / {vocabulary['shared']:,}",
            "text",
        ),
        _card("unique titles real / synthetic", f"{unique['real']:.1%} / {unique['synth']:.1%}", "text"),
    ]
    images = context.get("images") or {}
    return {
        **context,
        "title": context.get("title", "Fidelity: synthetic against real"),
        "subtitle": context.get(
            "subtitle", f"real: {context['inputs']['real']} · synthetic: {context['inputs']['synth']}"
        ),
        "charts": charts,
        "overview_cards": overview_cards,
        "schema_rows": [{**c, "status": "yes" if c["match"] else "NO"} for c in context["schema"]["columns"]],
        "title_cards": title_cards,
        "samples": {"real": _samples(images.get("real", [])), "synth": _samples(images.get("synth", []))},
    }


def render_fidelity(context: Mapping[str, Any]) -> str:
    """The fidelity report as one self-contained HTML string, from ``compare_datasets``' dict + images."""
    return render_template("fidelity.html.j2", {**build_view(context), "page_kind": "fidelity"})
