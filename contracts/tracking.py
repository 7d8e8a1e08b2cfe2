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
    "log to Weights & Biases: auto (WANDB_MODE if set, else online with an API key, offline without), "
    "online, offline (files under the output, for `wandb sync`), off"
)
# The values wandb itself accepts in WANDB_MODE (it refuses any other, even when a mode is passed to it), and
# what each means here; "off" is ours.
WANDB_ENV_MODES = {
    "online": "online",
    "run": "online",
    "shared": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "off",
    "off": "off",
}
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
        UserError: ``choice`` is unknown; ``WANDB_MODE`` holds a value W&B would refuse (and W&B is to run);
            online logging is asked for without an API key.
    """
    env = os.environ if environ is None else environ
    if choice not in WANDB_CHOICES:
        raise UserError(f"--wandb {choice!r} is not one of {', '.join(WANDB_CHOICES)}")
    raw = env.get("WANDB_MODE", "")
    from_env = WANDB_ENV_MODES.get(raw.strip().lower()) if raw.strip() else None
    mode = choice
    if choice == "auto":
        mode = from_env or ("online" if has_api_key(env) else "offline")
    if mode == "off":
        return None
    if raw.strip() and (from_env is None or from_env == "off"):
        # wandb validates WANDB_MODE whatever mode it is given: it would fail with a long traceback later
        known = ", ".join(k for k in WANDB_ENV_MODES if k != "off")
        raise UserError(
            f"WANDB_MODE={raw!r} is not a mode W&B accepts ({known}): set one of them, unset it, "
            "or pass --no-wandb"
        )
    if mode == "online" and not has_api_key(env):
        raise UserError(
            "W&B online logging needs an API key: set WANDB_API_KEY or run `wandb login`, or pass "
            "--wandb offline or --no-wandb"
        )
    return mode


def wandb_asked_for(choice: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the user asked for W&B logging: ``--wandb online|offline``, or ``WANDB_MODE`` set to a mode
    that logs under ``--wandb auto`` (a command that cannot log tells only then why it did not)."""
    env = os.environ if environ is None else environ
    if choice in ("online", "offline"):
        return True
    return choice == "auto" and WANDB_ENV_MODES.get(env.get("WANDB_MODE", "").strip().lower()) in (
        "online",
        "offline",
    )
