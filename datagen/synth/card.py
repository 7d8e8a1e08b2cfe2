"""The dataset card (README.md) and its machine-readable twin (dataset_info.json), from plain values."""

from __future__ import annotations

import json

from contracts.dataset import layout
from contracts.dataset.files import FileRecord
from contracts.dataset.writer import card_header
from datagen import __version__
from datagen.catalogue.profile import CatalogueProfile

GENERATOR = "datagen synth"


def synth_command(args: dict, shard: str | None = None) -> str:
    """The command that recreates a dataset from its content arguments."""
    parts = ["datagen synth", f"--rows {args['rows']}", "--out DIR", f"--seed {args['seed']}"]
    parts.append(f"--image-size {args['image_size']}")
    parts.append(f"--format {args['format']} --rows-per-file {args['rows_per_file']}")
    if args.get("profile"):
        parts.append(f"--profile DIR/{layout.PROFILE_FILE}")
    if args.get("eur_rate") is not None:
        parts.append(f"--eur-rate {args['eur_rate']}")
    if shard:
        parts.append(f"--shard {shard}")
    return " ".join(parts)


def build_info(
    args: dict,
    profile: CatalogueProfile,
    split_counts: dict[str, int],
    split_bytes: dict[str, int],
    files: list[FileRecord],
) -> dict:
    """dataset_info.json: generator, version, seed, content arguments (``SynthConfig.content_args``, the
    profile as the copy inside the dataset), counts, the command, and every data and latents file with its
    rows, size and sha256. The same for one run and for the merged jobs of a sharded one."""
    args = dict(args)
    if args["profile"]:
        args["profile"] = layout.PROFILE_FILE  # the copy inside the dataset, not a path on this machine
    return {
        "generator": GENERATOR,
        "version": __version__,
        "seed": args["seed"],
        "args": args,
        "format": args["format"],
        "rows": sum(split_counts.values()),
        "split_counts": {s: split_counts.get(s, 0) for s in layout.SPLITS},
        "split_bytes": {s: split_bytes.get(s, 0) for s in layout.SPLITS},  # the JPEGs, encoded
        "command": synth_command(args),
        "profile": {"name": profile.name, "fingerprint": profile.fingerprint},
        "price_noise": profile.price_noise,
        "eur_rate": profile.eur_rate,
        "image": {"format": "JPEG", "size": [args["image_size"], args["image_size"]]},
        "files": {"latents": f"{layout.LATENTS_DIR}/", "profile": layout.PROFILE_FILE},
        "data_files": sorted(files, key=lambda r: r["path"]),
        "shard": None,
    }


def _files_section(info: dict) -> list[str]:
    if info["format"] == layout.PARQUET:
        data = [
            f"- `{layout.DATA_DIR}/<split>-NNNNN-of-MMMMM.parquet`: the hub's layout; each file holds one "
            "block of rows of one split: the image",
            "  (the `datasets` Image type: JPEG bytes and file name) and the 17 DBQ columns. Loads with",
            "  `datasets.load_dataset(DIR)` (also `streaming=True`); `push_to_hub` takes it as it is.",
        ]
    else:
        data = [
            f"- `<split>/{layout.METADATA_FILE}`: `file_name` plus the 17 DBQ columns, in generation order;",
            "  the images `<product_code>.jpg` lie beside it. Loads with",
            '  `datasets.load_dataset("imagefolder", data_dir=DIR)` or `datasets.load_dataset(DIR)`.',
        ]
    return [
        "## Files",
        "",
        *data,
        f"- `{layout.LATENTS_DIR}/latents-NNNNN-of-MMMMM.jsonl`: per product, the latent attributes it was",
        "  drawn from (silhouette, size, line, pattern, material, trim, detail, colour, price noise, pose)",
        "  and the oracle's answer (`datagen.synth.oracle`), one file per block of rows.",
        f"- `{layout.PROFILE_FILE}`: the catalogue profile used (taxonomy, vocabulary, price parameters).",
        f"- `{layout.INFO_FILE}`: these facts, machine-readable, with each data file's size and sha256.",
        "",
    ]


def render_card(info: dict) -> str:
    """README.md with a YAML header (configs per split, features) that `datasets` reads, then the facts."""
    yaml = card_header(
        "Synthetic product catalogue (DBQ schema)", info["split_counts"], info["format"], info["split_bytes"]
    )
    args = info["args"]
    lines = [
        "# Synthetic product catalogue",
        "",
        f"Made by `{info['generator']}` version {info['version']} with seed {info['seed']}: "
        f"{info['rows']} products in the 17 columns of DBQ/Burberry.Product.prices.United.States, "
        "one rendered JPEG each. No real product, price or image is in it.",
        "",
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
        *_files_section(info),
        "Every title word is visible in the image (silhouette, size as scale or length, pattern, material",
        "texture and colour, emblem per line, detail); the price is a function of the visible attributes",
        f"times a bounded noise of +-{info['price_noise'] * 100:g}%, snapped to retail price points.",
        "",
    ]
    return "\n".join(yaml + lines)
