"""Where a result came from: the code version, the git commit, the versions of the packages that matter."""

from __future__ import annotations

import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

PACKAGES = ("phi3v-catalogue", "torch", "transformers", "numpy", "scikit-learn", "rapidfuzz")


@lru_cache(maxsize=1)
def code_info() -> dict:
    """``{"version", "git_commit", "git_dirty", "packages"}``; unknown values are None."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    commit, dirty = _git_state(Path(__file__).resolve().parent.parent)
    return {
        "version": packages["phi3v-catalogue"],
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": packages,
    }


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    if not (root / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())
