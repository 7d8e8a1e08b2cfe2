"""User-caused errors, and the one place that turns them into a single line and exit code 2."""

from __future__ import annotations

import signal
import sys
import threading

import click

EXIT_USER_ERROR = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, occupied output). The message names the fix."""


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so that every ``finally`` and ``with`` cleans up."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def raise_on_sigterm() -> None:
    """Turn SIGTERM into ``Terminated`` in this process (from the main thread only; elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def run_cli(group: click.Command, argv: list[str] | None = None) -> None:
    """Run a click command so that user errors end with one line on stderr and exit code 2.

    Click's own usage errors (unknown flag, bad value) are folded into one line too; anything else is a bug
    and keeps its traceback.
    """
    raise_on_sigterm()
    try:
        group.main(args=argv, standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(EXIT_USER_ERROR)
    except click.ClickException as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_SIGINT)
    except Terminated:
        click.echo("terminated", err=True)
        sys.exit(EXIT_SIGTERM)
    except BrokenPipeError:
        sys.exit(1)
