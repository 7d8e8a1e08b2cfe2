"""CLI commands for synthesis: `datagen synth`, `datagen synth-merge`. Thin: flags -> config -> function."""

from __future__ import annotations

import json
import time
from dataclasses import fields

import click

from contracts.dataset.layout import INFO_FILE
from datagen.config import DEFAULTS, SynthConfig


def _help(name: str) -> str:
    return next(f.metadata["help"] for f in fields(SynthConfig) if f.name == name)


@click.command("synth")
@click.option("--out", required=True, type=click.Path(file_okay=False), help=_help("out"))
@click.option("--rows", type=int, default=DEFAULTS.rows, show_default=True, help=_help("rows"))
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True, help=_help("seed"))
@click.option(
    "--image-size", type=int, default=DEFAULTS.image_size, show_default=True, help=_help("image_size")
)
@click.option("--workers", type=int, default=DEFAULTS.workers, show_default=True, help=_help("workers"))
@click.option("--shard", type=str, default=DEFAULTS.shard, metavar="I/N", help=_help("shard"))
@click.option("--profile", type=str, default=DEFAULTS.profile, metavar="JSON", help=_help("profile"))
@click.option("--eur-rate", type=float, default=DEFAULTS.eur_rate, help=_help("eur_rate"))
@click.option("--overwrite/--no-overwrite", default=DEFAULTS.overwrite, help=_help("overwrite"))
@click.option("--quiet/--no-quiet", default=DEFAULTS.quiet, help=_help("quiet"))
def synth(**kwargs) -> None:
    """Generate a sample product dataset (DBQ schema, one rendered image per row) into --out."""
    from datagen.synth import synthesize, usable_workers

    cfg = SynthConfig(**kwargs)
    _, note = usable_workers(cfg.workers)
    if note:
        click.echo(f"note: {note}", err=True)
    start = time.perf_counter()
    out = synthesize(cfg)
    if not cfg.quiet:
        # dataset_info.json read directly: the reader would import pandas just for this line
        counts = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))["split_counts"]
        split_text = ", ".join(f"{k} {v}" for k, v in counts.items())
        shard = f" (shard {cfg.shard})" if cfg.shard else ""
        click.echo(
            f"wrote {sum(counts.values())} rows{shard} ({split_text}) to {out} "
            f"in {time.perf_counter() - start:.1f} s"
        )


@click.command("synth-merge")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output DATASET dir.")
@click.option(
    "--overwrite/--no-overwrite", default=False, help="Replace a DATASET dir this project wrote at --out."
)
@click.argument("shard_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
def synth_merge(out: str, overwrite: bool, shard_dirs: tuple[str, ...]) -> None:
    """Join the shard dirs of one `datagen synth --shard I/N` run into the unsharded dataset."""
    from datagen.synth import merge_shards

    path = merge_shards(shard_dirs, out, overwrite=overwrite)
    click.echo(f"merged {len(shard_dirs)} shards into {path}")


COMMANDS: list[click.Command] = [synth, synth_merge]
