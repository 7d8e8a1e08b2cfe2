"""The response cache of foreign models and endpoints: every answer stored on disk as it arrives, so a rerun
(into the same report with ``--overwrite``, or another) or a run resumed after Ctrl-C, a crash or a dead
server asks only what is missing.

An answer is keyed by a SHA-256 of everything that decides it: the system (its identity: an endpoint's URL
and model name, a model dir's files), the prompt, the image's bytes and the generation settings. Each system
has one append-only JSON Lines file, ``<dir>/<name>-<hash of the identity>.jsonl``, one ``{"key", "answer"}``
per line, each line written with a single ``write`` on a file opened for appending: a killed run loses at
most the line being written, and a torn last line is skipped on reading. Rows left unanswered (errors) are
never stored, so they are asked again. ``--no-cache`` reads and writes nothing.

The default location is ``$XDG_CACHE_HOME/phi3v-catalogue/responses`` (``~/.cache/...`` without it);
``--cache-dir`` moves it. Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from contracts.errors import UserError

APP_DIR = "phi3v-catalogue"
RESPONSES_DIR = "responses"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/phi3v-catalogue/responses``, or ``~/.cache/phi3v-catalogue/responses``."""
    env = os.environ if environ is None else environ
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / APP_DIR / RESPONSES_DIR


def digest(value: Any) -> str:
    """SHA-256 (hex) of ``value``: bytes as they are, anything else as canonical JSON."""
    data = (
        value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
    )
    return hashlib.sha256(data).hexdigest()


class ResponseCache:
    """The stored answers of one system (``identity``: whatever tells it apart from every other system)."""

    def __init__(self, directory: str | Path | None, name: str, identity: Mapping[str, Any]) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "system"
        self.path = self.directory / f"{slug}-{digest(dict(identity))[:16]}.jsonl"
        self.identity = dict(identity)
        self.answers: dict[str, str] = {}
        self.hits = self.stored = 0
        self._fd: int | None = None

    def open(self) -> ResponseCache:
        """Read what is stored; the file is created on the first answer.

        Raises:
            UserError: the cache folder cannot be made or read (naming ``--cache-dir`` and ``--no-cache``).
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        except OSError as exc:
            raise UserError(
                f"cannot use the response cache at {self.directory} ({exc.strerror}): choose another "
                "--cache-dir, or pass --no-cache"
            ) from None
        for line in text.splitlines():
            try:
                record = json.loads(line)
                self.answers[record["key"]] = record["answer"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill: its row is asked again
        return self

    def key(self, *, prompt: str, image: bytes, settings: Mapping[str, Any]) -> str:
        """The key of one request: the system, the prompt, the image's bytes and the generation settings."""
        return digest(
            {"system": self.identity, "prompt": prompt, "image": digest(image), "settings": dict(settings)}
        )

    def get(self, key: str) -> str | None:
        answer = self.answers.get(key)
        self.hits += answer is not None
        return answer

    def put(self, key: str, answer: str) -> None:
        """Store one answer now (one append of one line)."""
        if self.answers.get(key) == answer:
            return
        self.answers[key] = answer
        line = json.dumps({"key": key, "answer": answer}, ensure_ascii=False) + "\n"
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, line.encode("utf-8"))
        except OSError as exc:
            raise UserError(
                f"cannot write the response cache {self.path} ({exc.strerror}): choose another --cache-dir, "
                "or pass --no-cache"
            ) from None
        self.stored += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class NoCache(ResponseCache):
    """``--no-cache``: nothing read, nothing stored."""

    def __init__(self) -> None:
        super().__init__("/nonexistent", "none", {})

    def open(self) -> NoCache:
        return self

    def get(self, key: str) -> str | None:
        return None

    def put(self, key: str, answer: str) -> None:
        pass


def response_cache(
    enabled: bool, directory: str | None, name: str, identity: Mapping[str, Any]
) -> ResponseCache:
    """The cache of one system, opened; ``NoCache`` when ``enabled`` is False."""
    return ResponseCache(directory, name, identity).open() if enabled else NoCache()
