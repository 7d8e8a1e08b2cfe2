"""The Weights & Biases policy of every command: one rule, one set of flag values.

``--wandb auto|online|offline|off`` (``--no-wandb`` is ``off``). ``auto`` follows ``WANDB_MODE`` when it is
set, else logs online when an API key is configured (``WANDB_API_KEY`` or ``wandb login``) and offline
otherwise. Offline runs are written under the command's own output (``RUN/wandb``, ``REPORT_DIR/wandb``), to
upload later with ``wandb sync``; nothing is written anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from contracts.errors import UserError

WANDB_CHOICES = ("auto", "online", "offline", "off")
WANDB_HELP = (
    "Weights & Biases: auto (WANDB_MODE if set, else online with an API key, offline without), online, "
    "offline (files under the output, for `wandb sync`), off"
)
WANDB_DIR = "wandb"  # inside the command's output


def has_api_key(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY"):
        return True
    netrc = Path(env.get("NETRC", str(Path.home() / ".netrc")))
    try:
        return "api.wandb.ai" in netrc.read_text(encoding="utf-8")
    except OSError:
        return False


def resolve_wandb_mode(choice: str, environ: Mapping[str, str] | None = None) -> str | None:
    """``online``, ``offline``, or None (no logging) for ``--wandb choice`` in this environment.

    Raises:
        UserError: ``choice`` is unknown, or online logging is asked for without an API key.
    """
    env = os.environ if environ is None else environ
    if choice not in WANDB_CHOICES:
        raise UserError(f"--wandb {choice!r} is not one of {', '.join(WANDB_CHOICES)}")
    mode = choice
    if choice == "auto":
        from_env = env.get("WANDB_MODE", "").strip().lower()
        if from_env in ("disabled", "off"):
            mode = "off"
        elif from_env in ("offline", "dryrun"):
            mode = "offline"
        elif from_env == "online":
            mode = "online"
        else:
            mode = "online" if has_api_key(env) else "offline"
    if mode == "off":
        return None
    if mode == "online" and not has_api_key(env):
        raise UserError(
            "W&B online logging needs an API key: set WANDB_API_KEY or run `wandb login`, or pass "
            "--wandb offline or --no-wandb"
        )
    return mode
