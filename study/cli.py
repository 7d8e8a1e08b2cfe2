"""`study` command line. Thin: flags -> StudyConfig -> ``run_study``; `study report` -> ``write_report``.

study run STUDY.yaml --out DIR [--jobs N] [--cell I/N] [--threads N]
study report DIR
"""

from __future__ import annotations

import sys

import click

from contracts.errors import EXIT_SIGINT, run_cli
from contracts.tracking import WANDB_CHOICES


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
def group() -> None:
    """Studies: learning curves, synthetic-to-real transfer and recipe comparisons in one command.

    \b
    study run studies/rows.yaml --out out/study              every cell, one at a time
    study run studies/rows.yaml --out out/study --jobs 2     two cells side by side
    study run studies/rows.yaml --out out/study --cell 3/8   the 3rd of 8 shares (a cluster array's job)
    study report out/study                                   the report of what has finished
    """


@group.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="study dir (created, or continued)"
)
@click.option(
    "--jobs", default=1, show_default=True, type=click.IntRange(min=1), help="cells run side by side"
)
@click.option(
    "--cell",
    "cell",
    default=None,
    metavar="I/N",
    help="run only every N-th cell from the I-th (one job of a cluster array; 1-based)",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="CPU threads of each cell; the same threads give the same numbers, whatever --jobs",
)
@click.option(
    "--wandb",
    default="off",
    show_default=True,
    type=click.Choice(WANDB_CHOICES),
    help="W&B for every cell's finetune and evaluate (the cells as one group)",
)
@click.option("--quiet", is_flag=True, help="no line per cell")
def run_command(
    file: str, out: str, jobs: int, cell: str | None, threads: int, wandb: str, quiet: bool
) -> None:
    """Run the cells of the study FILE into --out (a finished cell is never run again); write the report."""
    from study.run import StudyConfig, run_study

    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    result = run_study(
        StudyConfig(file=file, out=out, jobs=jobs, cell=cell, threads=threads, wandb=wandb), say
    )
    if result.interrupted:
        click.echo("interrupted: run the same command again to go on where it stopped", err=True)
        sys.exit(EXIT_SIGINT)
    if result.report is not None:
        click.echo(f"report: {result.report}")
    if result.failed:
        click.echo(f"{len(result.failed)} cell(s) or system(s) failed: " + "; ".join(result.failed), err=True)
        sys.exit(1)


@group.command("report")
@click.argument("out", type=click.Path(file_okay=False))
def report_command(out: str) -> None:
    """Write DIR/report.html, results.json and results.md from the cells that have finished."""
    from study.report import write_report

    click.echo(f"report: {write_report(out)}")


def main() -> None:
    run_cli(group)


if __name__ == "__main__":
    main()
