"""`evaluate` command line. Thin: flags -> config -> library function."""

from __future__ import annotations

import click

from datagen.errors import run_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def group() -> None:
    """evaluate (not implemented yet)."""


def main() -> None:
    run_cli(group)
