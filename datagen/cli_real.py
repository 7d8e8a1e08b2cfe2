"""CLI commands for real data: `datagen real`, `datagen profile`, `datagen fit`, `datagen compare`."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
