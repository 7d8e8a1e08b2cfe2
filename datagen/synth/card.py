"""The dataset card (README.md) and its machine-readable twin (dataset_info.json), from plain values."""

from __future__ import annotations

import json

from contracts.dataset import layout
from contracts.dataset.writer import card_header

GENERATOR = "datagen synth"


def synth_command(args: dict, shard: str | None = None) -> str:
    """The command that recreates a dataset from its content arguments."""
    parts = ["datagen synth", f"--rows {args['rows']}", "--out DIR", f"--seed {args['seed']}"]
    parts.append(f"--image-size {args['image_size']}")
    if args.get("profile"):
        parts.append(f"--profile DIR/{layout.PROFILE_FILE}")
    if args.get("eur_rate") is not None:
        parts.append(f"--eur-rate {args['eur_rate']}")
    if shard:
        parts.append(f"--shard {shard}")
    return " ".join(parts)


def render_card(info: dict) -> str:
    """README.md with a YAML header (configs per split, features) that `datasets` reads, then the facts."""
    yaml = card_header("Synthetic product catalogue (DBQ schema)", info["split_counts"])

    args = info["args"]
    shard = info.get("shard")
    lines = [
        "# Synthetic product catalogue",
        "",
        f"Made by `{info['generator']}` version {info['version']} with seed {info['seed']}: "
        f"{info['rows']} products in the 17 columns of DBQ/Burberry.Product.prices.United.States, "
        "one rendered JPEG each. No real product, price or image is in it.",
        "",
    ]
    if shard:
        lines += [
            f"**This is shard {shard['index']} of {shard['count']}** "
            f"(rows {shard['start']}-{shard['stop'] - 1} of {args['rows']}). "
            "Join all shards with `datagen synth-merge --out DIR SHARD_DIR...`; the result "
            "is byte-identical to the unsharded run.",
            "",
        ]
    lines += [
        "## How it was made",
        "",
        "```",
        info["command"],
        "```",
        "",
        "| argument | value |",
        "|---|---|",
    ]
    for key, value in args.items():
        lines.append(f"| {key} | {json.dumps(value)} |")
    lines += [
        f"| profile name | {info['profile']['name']} |",
        f"| profile sha256 | `{info['profile']['fingerprint']}` |",
        "",
        "## Splits",
        "",
        "| split | rows |",
        "|---|---|",
    ]
    lines += [f"| {s} | {info['split_counts'][s]} |" for s in layout.SPLITS]
    lines += [
        "",
        "Splits are 80/10/10, stratified by `category3_code` and seeded "
        "(`contracts.dataset.split.assign_splits`).",
        "",
        "## Files",
        "",
        f"- `<split>/{layout.METADATA_FILE}`: `file_name` plus the 17 DBQ columns, sorted by `product_code`;",
        "  the images `<product_code>.jpg` lie beside it. Loads with",
        '  `datasets.load_dataset("imagefolder", data_dir=DIR)`.',
        f"- `{layout.LATENTS_FILE}`: per product, the latent attributes it was drawn from (silhouette, size,",
        "  line, pattern, material, trim, detail, colour, price noise, pose) for the oracle baseline",
        "  (`datagen.synth.oracle`).",
        f"- `{layout.PROFILE_FILE}`: the catalogue profile used (taxonomy, vocabulary, price parameters).",
        f"- `{layout.INFO_FILE}`: these facts, machine-readable.",
        "",
        "Every title word is visible in the image (silhouette, size as scale or length, pattern, material",
        "texture and colour, emblem per line, detail); the price is a function of the visible attributes",
        f"times a bounded noise of +-{info['price_noise'] * 100:g}%, snapped to retail price points.",
        "",
    ]
    return "\n".join(yaml + lines)
