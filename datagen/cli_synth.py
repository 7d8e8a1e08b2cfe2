"""CLI commands for synthesis: `datagen synth`."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
