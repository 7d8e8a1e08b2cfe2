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


def _pair(label: str, data: Mapping[str, Any] | None, fmt: str, note: str, key: str | None = None) -> dict:
    """A privacy row: the synthetic figure beside the holdout's (``key`` picks a field of each side)."""
    data = data or {}

    def pick(side: str) -> Any:
        value = data.get(side)
        return value.get(key) if key is not None and isinstance(value, Mapping) else value

    return {"label": label, "synth": pick("synth"), "holdout": pick("holdout"), "fmt": fmt, "note": note}


def _privacy_rows(privacy: Mapping[str, Any]) -> list[dict]:
    copies, distance, disclosure = privacy["copies"], privacy["distance"], privacy["disclosure"]
    each, ties = f"{distance['rows_per_side']:,}", f"{100 * distance['ties']:.1f}%"
    closer = f"{100 * distance['sdmetrics_closer_to_training']:.1f}% closer"
    known = " and ".join(disclosure["known"])
    return [
        _pair("exact row copies", copies["rows"], "pct",
              "rows equal to a fit row: title, category codes, price within 1%"),
        _pair("titles copied verbatim", copies["titles"], "pct", "titles equal to a fit row's title"),
        _pair("NewRowSynthesis (SDMetrics)", copies["new_row_synthesis"], "float3",
              "share of rows that are new: 1 - exact row copies"),
        {"label": "distance share", "synth": distance["share"], "holdout": None, "fmt": "pct",
         "note": f"closer to the fit's rows than to the holdout ({each} rows each; ties, {ties}, split half "
                 "and half); a fresh sample scores 50%"},
        {"label": "DCROverfittingProtection (SDMetrics)", "fmt": "float3", "holdout": None,
         "synth": distance["sdmetrics_overfitting_protection"],
         "note": f"min(1, 2 x (1 - closer)), each side in its own ranges, a tie to the holdout: {closer}"},
        _pair("DCRBaselineProtection (SDMetrics)", privacy["baseline"], "float3",
              "median distance to the closest fit row over that of random rows in the same ranges", "score"),
        _pair("median distance to the closest fit row", privacy["baseline"], "float3",
              "SDMetrics' units: the mean over the columns of 0/1 (categories) and |a - b| / range",
              "median_dcr"),
        _pair("DisclosureProtection (SDMetrics, zero-CAP)", disclosure, "float3",
              f"knowing {known}, guess {disclosure['sensitive']}; 1 = no better than chance"),
    ]  # fmt: skip


TASK_LABELS = {
    "category_from_title": ("category from title", "accuracy", "float3"),
    "price_from_category_and_title": ("price from category and title", "R² of log price", "float3"),
    "category_from_image": ("category from image", "accuracy", "float3"),
}
DETECTORS = {
    "table": ("table (SDMetrics LogisticDetection)", "categories, prices, title lengths"),
    "titles": ("titles (TF-IDF, logistic regression)", "the title text"),
    "images": (
        "images (probe features, logistic regression)",
        "rendered products are not photographs: against real photos this detector wins outright; it "
        "says the images are drawings, not that the table gives the source away",
    ),  # fmt: skip
}


def _utility_rows(utility: Mapping[str, Any]) -> list[dict]:
    rows = []
    for name, task in utility["tasks"].items():
        label, metric, fmt = TASK_LABELS.get(name, (name, "score", "float3"))
        rows.append({"task": label, "metric": metric, "real": task["real"]["score"],
                     "synth": task["synth"]["score"], "augmented": task["augmented"]["score"],
                     "ratio": task["ratio"], "fmt": fmt})  # fmt: skip
    return rows


def _privacy_utility(context: Mapping[str, Any]) -> dict | None:
    """The privacy and utility section's tables and cards, or None for a comparison without one."""
    verdict = context.get("verdict")
    if not verdict:
        return None
    privacy, utility = context.get("privacy"), context.get("utility")
    detection = [
        {"detector": DETECTORS.get(k, (k, ""))[0], "score": d["score"], "auc": d["auc"],
         "note": DETECTORS.get(k, (k, ""))[1]}
        for k, d in (context.get("detection") or {}).items()
    ]  # fmt: skip
    return {
        "verdict": verdict,
        "privacy_rows": _privacy_rows(privacy) if privacy else [],
        "holdout": privacy["holdout"] if privacy else None,
        "utility_rows": _utility_rows(utility) if utility else [],
        "utility": utility,
        "detection_rows": detection,
        "promise": context.get("promise"),
        "skipped": context.get("skipped") or [],
    }


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
    section = _privacy_utility(context)
    if section is not None:
        verdict = section["verdict"]
        task = ((context.get("utility") or {}).get("tasks") or {}).get("category_from_title")
        overview_cards += [
            _card("privacy", verdict["privacy"]["status"], "text"),
            _card("utility ratio (category from title)", task["ratio"] if task else None, "float2"),
        ]
    images = context.get("images") or {}
    return {
        **context,
        "section": section,
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
