"""`datagen`: make and inspect DATASET dirs. Thin: flags -> config -> library function.

Each command's options are made from its config dataclass's fields (default and help included), so flags and
fields cannot drift apart; the command builds the config and calls one library function.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import click

from contracts.dataset import layout
from contracts.errors import run_cli
from datagen import __version__
from datagen.config import FORMAT_CHOICES, CompareConfig, FitConfig, ImportConfig, ProfileConfig, SynthConfig
from datagen.words import quantity


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datagen")
def group() -> None:
    """Generate sample product datasets (DBQ schema, with images) or import real ones."""


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _option(cls: type, name: str, *decls: str, **kwargs: Any) -> Any:
    """A click option for the dataclass field ``name``: flag ``--name-with-dashes``, its default and help."""
    spec = _field(cls, name)
    flag = "--" + name.replace("_", "-")
    if spec.default is not dataclasses.MISSING:
        kwargs["default"] = spec.default
    elif spec.default_factory is not dataclasses.MISSING:
        kwargs["default"] = spec.default_factory()
    else:
        kwargs["required"] = True  # no default at all: click takes an explicit None as a given value
    if isinstance(kwargs.get("default"), bool):
        decls = decls or (f"{flag}/--no-{flag[2:]}",)
    kwargs.setdefault("show_default", kwargs.get("default") is not None)
    return click.option(*(decls or (flag,)), name, help=spec.metadata["help"], **kwargs)


@click.command("synth")
@_option(SynthConfig, "out", type=click.Path(file_okay=False))
@_option(SynthConfig, "rows", type=int)
@_option(SynthConfig, "seed", type=int)
@_option(SynthConfig, "image_size", type=int)
@_option(SynthConfig, "format", type=click.Choice(FORMAT_CHOICES))
@_option(SynthConfig, "rows_per_file", type=int)
@_option(SynthConfig, "workers", type=int)
@_option(SynthConfig, "shard", type=str, metavar="I/N")
@_option(SynthConfig, "profile", type=str, metavar="JSON")
@_option(SynthConfig, "eur_rate", type=float)
@_option(SynthConfig, "overwrite")
@_option(SynthConfig, "quiet")
def synth(**kwargs) -> None:
    """Generate a sample product dataset (DBQ schema, one rendered image per row) into --out."""
    from datagen.synth.run import synthesize, usable_workers

    cfg = SynthConfig(**kwargs)
    _, note = usable_workers(cfg.workers)
    if note:
        click.echo(f"note: {note}", err=True)
    start = time.perf_counter()
    out = synthesize(cfg)
    if cfg.quiet:
        return
    seconds = time.perf_counter() - start
    if cfg.shard:
        i, n = cfg.shard_spec
        manifest = json.loads((out / layout.shard_manifest(i, n)).read_text(encoding="utf-8"))
        counts = manifest["split_counts"]
        click.echo(
            f"wrote shard {i}/{n}: {quantity(sum(counts.values()), 'row')} ({_splits(counts)}) into {out} in "
            f"{seconds:.1f} s; when all {n} are done: datagen synth-merge {out}"
        )
        return
    # dataset_info.json read directly: the reader would import pandas just for this line
    counts = json.loads((out / layout.INFO_FILE).read_text(encoding="utf-8"))["split_counts"]
    click.echo(
        f"wrote {quantity(sum(counts.values()), 'row')} ({_splits(counts)}) to {out} ({cfg.layout}) "
        f"in {seconds:.1f} s"
    )


def _splits(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


@click.command("synth-merge")
@click.argument("data_dir", type=click.Path(file_okay=False))
def synth_merge(data_dir: str) -> None:
    """Finish a sharded run: check the files of the N `datagen synth --shard I/N --out DATA_DIR` jobs and
    write the index and the card into DATA_DIR (no image is copied)."""
    from datagen.synth.run import merge_shards

    path, shards, done_before = merge_shards(data_dir)
    if done_before:
        click.echo(f"{path} is a finished dataset already: nothing to merge")
    else:
        click.echo(f"merged {quantity(shards, 'shard')} into {path}")


@click.command("real")
@_option(ImportConfig, "dataset", metavar="HUB_ID")
@_option(ImportConfig, "from_file", "--from", type=click.Path(dir_okay=False), metavar="FILE")
@_option(ImportConfig, "out", "--out", "-o", type=click.Path(file_okay=False))
@_option(ImportConfig, "split")
@_option(ImportConfig, "revision")
@_option(ImportConfig, "workers", type=int)
@_option(ImportConfig, "timeout", type=float)
@_option(ImportConfig, "retries", type=int)
@_option(ImportConfig, "backoff", type=float)
@_option(ImportConfig, "cache_dir", type=click.Path(file_okay=False))
@_option(ImportConfig, "seed", type=int)
@_option(ImportConfig, "limit", type=int)
@_option(ImportConfig, "overwrite")
@_option(ImportConfig, "quiet")
def real(**kwargs: Any) -> None:
    """Import a DBQ dataset (hub id or local file) and its images into a DATASET dir.

    Rows whose image is missing (N.A.), fails to download or is corrupt are left out and listed with the
    reason in failures.jsonl; images are cached, so a second run downloads nothing it already has.
    """
    from datagen.real.importer import run_import

    result = run_import(ImportConfig(**kwargs))
    splits = ", ".join(f"{s} {n}" for s, n in result.split_counts.items())
    left_out = ", ".join(f"{r} {n}" for r, n in result.failed_by_reason.items())
    click.echo(
        f"read {quantity(result.rows_read, 'row')}; imported {result.imported} ({splits}); "
        f"left out {result.failed}" + (f" ({left_out})" if left_out else "")
    )
    click.echo(
        f"images: {quantity(result.urls, 'distinct URL')}, {result.cache_hits} from cache, "
        f"{result.downloaded} downloaded"
    )
    click.echo(f"wrote {result.out} (rows left out are listed in {layout.FAILURES_FILE})")


@click.command("profile")
@click.argument("data_dir", type=click.Path(exists=True))
@_option(ProfileConfig, "split")
@_option(ProfileConfig, "json")
def profile(**kwargs: Any) -> None:
    """Per-column statistics of a DATASET dir (or a DBQ table file), as the hub's dataset viewer shows them.

    Strings with few values: their classes; other strings: length ranges; numbers: min, max, mean and a
    histogram; constant columns flagged; then relations between columns (equal, fixed ratio, unique).
    """
    from datagen.stats import column_relations, column_stats, format_stats, read_table

    cfg = ProfileConfig(**kwargs)
    table = read_table(cfg.data_dir, cfg.split)
    stats, relations = column_stats(table), column_relations(table)
    if cfg.json:
        click.echo(json.dumps({"rows": len(table), "columns": stats, "relations": relations}, indent=2))
    else:
        click.echo(format_stats(stats, relations, len(table)), nl=False)


@click.command("fit")
@click.argument("data_dir", type=click.Path(exists=True))
@_option(FitConfig, "out", "--out", "-o", type=click.Path(dir_okay=False))
@_option(FitConfig, "holdout", type=float)
@_option(FitConfig, "seed", type=int)
@_option(FitConfig, "copies")
@_option(FitConfig, "overwrite")
def fit(**kwargs: Any) -> None:
    """Learn a catalogue profile (taxonomy, prices, title words, constants) from a DATASET dir or DBQ file.

    `datagen synth --profile PROFILE.json` then generates data that mimics it, in its country and currency.
    A share of the products (--holdout) is kept out and recorded in the profile, so `datagen compare` can
    judge a synthetic dataset made from it against rows the fit never saw.
    """
    from datagen.fit.run import write_fitted_profile

    result, out = write_fitted_profile(FitConfig(**kwargs))
    profile = result.profile
    click.echo(
        f"{len(profile.taxonomy)} product types, {profile.country_code} {profile.currency_code} "
        f"(EUR rate {profile.eur_rate:g}), prices {profile.price_min:,.2f}-{profile.price_max:,.2f}"
    )
    click.echo(profile.description)
    if result.widened:
        click.echo(
            f"widened {len(result.widened)} product types whose options could only repeat source titles: "
            + ", ".join(result.widened)
        )
    click.echo(f"wrote {out} (use it with: datagen synth --profile {out})")


@click.command("compare")
@click.argument("real_dir", type=click.Path(exists=True))
@click.argument("synth_dir", type=click.Path(exists=True))
@_option(CompareConfig, "report", type=click.Path(dir_okay=False))
@_option(CompareConfig, "holdout", type=click.Path(exists=True), metavar="DIR")
@_option(CompareConfig, "images", type=int)
@_option(CompareConfig, "seed", type=int)
@_option(CompareConfig, "overwrite")
@_option(CompareConfig, "quiet")
def compare(**kwargs: Any) -> None:
    """Measure a synthetic DATASET dir against a real one: an HTML report and its JSON twin.

    Fidelity: schema diff, SDMetrics quality (column shapes, column pair trends), side-by-side statistics,
    charts, title vocabulary, sample images, and one overall score = schema x (0.75 x SDMetrics quality +
    0.25 x titles). Privacy, against the rows `datagen fit --holdout` kept out (or --holdout DIR): copies,
    distance to closest record, disclosure, each beside the holdout's own figure. Utility: models trained on
    synthetic against real rows, tested on real rows. Detection: real-vs-synthetic classifiers. Then one
    verdict. REAL_DIR may also be a DBQ table file (no images).
    """
    from datagen.fidelity.compare import write_comparison

    cfg = CompareConfig(**kwargs)
    result, html_path, json_path = write_comparison(cfg, lambda line: click.echo(f"note: {line}", err=True))
    if not cfg.quiet:
        q, overall = result["quality"], result["overall"]
        click.echo(
            f"overall {overall['score']:.3f} = {overall['formula']}; SDMetrics quality {q['score']:.3f} "
            f"(column shapes {q['column_shapes']:.3f}, column pair trends "
            + ("n/a" if q["column_pair_trends"] is None else f"{q['column_pair_trends']:.3f}")
            + f"); titles {result['titles']['score']:.3f}; schema {result['schema']['score']:.0%}"
        )
        click.echo(result["verdict"]["text"])
    click.echo(f"wrote {html_path} and {json_path}")


for _command in (synth, synth_merge, real, profile, fit, compare):
    group.add_command(_command)


def main() -> None:
    run_cli(group)


if __name__ == "__main__":
    main()
