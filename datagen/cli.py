"""`datagen`: make and inspect DATASET dirs. Thin: flags -> config -> library function."""

from __future__ import annotations

import click

from contracts.errors import run_cli
from datagen import __version__
from datagen.cli_real import COMMANDS as REAL_COMMANDS
from datagen.cli_synth import COMMANDS as SYNTH_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="datagen")
def group() -> None:
    """Generate sample product datasets (DBQ schema, with images) or import real ones."""


for _command in (*SYNTH_COMMANDS, *REAL_COMMANDS):
    group.add_command(_command)


def main() -> None:
    run_cli(group)


if __name__ == "__main__":
    main()
