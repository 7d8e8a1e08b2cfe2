"""Outputs of the commands: claiming one, replacing only what this project wrote, writing atomically.

Every command that writes a DATASET dir, a RUN dir or a report goes through here:

- ``claim_output`` takes an exclusive lock beside the target (``.NAME.lock``, held with ``flock``, so a lock
  whose holder died, even by ``kill -9``, is free again at once): of two runs into one output exactly one
  goes on, the other is told who holds it. Under the lock it removes the temporary siblings a killed run left
  (``.NAME.tmp-*``, ``.NAME.old-*``) and checks what the target holds.
- ``check_replaceable`` decides whether an existing output may be replaced: never `/`, the home folder, the
  working directory or one of its parents, or a mount point; never something this project did not write,
  recognised by the files each kind of output holds (``OutputKind``); an output of ours only with
  ``--overwrite``.
- ``write_files_atomically`` and ``swap_dir_into_place`` write into temporary siblings and rename, so a crash
  leaves the old result or none, never half of one.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.errors import UserError

try:  # POSIX; elsewhere outputs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

TMP_TAG = ".tmp-"
OLD_TAG = ".old-"
LOCK_SUFFIX = ".lock"
HTML_GENERATOR = "phi3v-catalogue"  # <meta name="generator"> of every HTML page the project writes
PAGE_KIND_META = "phi3v-catalogue-page"  # <meta name=... content=KIND>: which of the project's pages it is
EVALUATION_PAGE, COMPARISON_PAGE, FIDELITY_PAGE, STUDY_PAGE = "evaluation", "comparison", "fidelity", "study"


# -- names of temporary siblings ---------------------------------------------------------------------------


def temp_sibling(target: Path) -> Path:
    """A fresh name beside ``target`` for writing its replacement: ``.NAME.tmp-XXXXXXXX``."""
    return target.parent / f".{target.name}{TMP_TAG}{secrets.token_hex(4)}"


def aside_sibling(target: Path) -> Path:
    """A fresh name beside ``target`` for its old copy while the new one moves in: ``.NAME.old-XXXXXXXX``."""
    return target.parent / f".{target.name}{OLD_TAG}{secrets.token_hex(4)}"


def is_leftover(path: Path) -> bool:
    """Whether ``path`` is a temporary sibling of something (``temp_sibling``/``aside_sibling`` names)."""
    name = path.name
    return name.startswith(".") and (TMP_TAG in name or OLD_TAG in name)


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the temporary siblings of ``target`` that a killed run left; return what was removed.

    Call it holding ``target``'s lock: then no live run is writing them.
    """
    removed = []
    if not target.parent.is_dir():
        return removed
    for prefix in (f".{target.name}{TMP_TAG}", f".{target.name}{OLD_TAG}"):
        for path in target.parent.iterdir():
            if path.name.startswith(prefix):
                remove_path(path)
                removed.append(path)
    return removed


def remove_leftovers_inside(folder: Path) -> None:
    """Remove every temporary sibling (``is_leftover``) directly inside ``folder``, an output of ours."""
    if folder.is_dir():
        for path in folder.iterdir():
            if is_leftover(path):
                remove_path(path)


# -- what may be replaced ----------------------------------------------------------------------------------


def unsafe_reason(target: Path) -> str | None:
    """Why ``target`` may never be written over as a whole, whatever the flags; None if it may."""
    resolved = target.expanduser().resolve()
    if resolved == Path(resolved.anchor):
        return "is the root of the file system"
    try:
        if resolved == Path.home().resolve():
            return "is your home folder"
    except RuntimeError:  # no home folder known
        pass
    cwd = Path.cwd().resolve()
    if resolved == cwd:
        return "is the working directory"
    if resolved in cwd.parents:
        return "holds the working directory"
    if resolved.exists() and is_mount_point(resolved):
        return "is a mount point"
    return None


def is_mount_point(path: Path) -> bool:
    """Whether ``path`` is a mount point, bind mounts of the same file system included (which
    ``os.path.ismount`` misses: they share the parent's device; renaming over one fails with EBUSY)."""
    if os.path.ismount(path):
        return True
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    except OSError:  # not Linux: os.path.ismount is all there is
        return False
    resolved = str(Path(path).resolve())
    # field 5 is the mount point, with space, tab, newline and backslash written as octal escapes
    points = (line.split(" ")[4] for line in lines if line.count(" ") > 4)
    return any(_OCTAL.sub(lambda m: chr(int(m.group(1), 8)), p) == resolved for p in points)


_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class OutputKind:
    """How a command recognises a dir output it wrote before.

    ``marker`` is the file whose presence (and, with ``recognise``, content) says "this project wrote it";
    ``entries`` are glob patterns of everything such a dir may hold at its top level, and ``inside`` the
    patterns allowed within some of its sub-dirs; anything else is a file the project did not write, and the
    dir is then never replaced.
    """

    what: str
    marker: str
    entries: tuple[str, ...]
    inside: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    recognise: Callable[[Path], bool] | None = None

    def is_ours(self, folder: Path) -> bool:
        marker = folder / self.marker
        if not marker.is_file():
            return False
        return self.recognise(marker) if self.recognise is not None else True

    def foreign_entries(self, folder: Path) -> list[str]:
        """Entries of ``folder`` this kind of output never holds (relative paths), sorted."""
        foreign = []
        for entry in sorted(folder.iterdir()):
            if not _matches(entry.name, self.entries) and not is_leftover(entry):
                foreign.append(entry.name)
            elif entry.name in self.inside and entry.is_dir():
                allowed = self.inside[entry.name]
                foreign += [
                    f"{entry.name}/{sub.name}"
                    for sub in sorted(entry.iterdir())
                    if not _matches(sub.name, allowed) and not is_leftover(sub)
                ]
        return foreign


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def read_json_object(path: Path) -> dict[str, Any] | None:
    """``path`` as a JSON object, or None when it is not one (unreadable, not JSON, another type)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def json_with_keys(*keys: str) -> Callable[[Path], bool]:
    """A ``recognise`` function: the file is a JSON object holding all of ``keys``."""

    def recognise(path: Path) -> bool:
        obj = read_json_object(path)
        return obj is not None and all(k in obj for k in keys)

    return recognise


def _html_head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(4096)
    except OSError:
        return b""


def is_our_html(path: Path) -> bool:
    """Whether ``path`` is an HTML page this project wrote (its generator meta tag)."""
    return f'<meta name="generator" content="{HTML_GENERATOR}">'.encode() in _html_head(path)


def page_kind(path: Path) -> str | None:
    """Which of the project's pages ``path`` is (``EVALUATION_PAGE``, …), from its kind meta tag; None for
    a page of another author, or one written before pages named their kind."""
    head = _html_head(path)
    if f'<meta name="generator" content="{HTML_GENERATOR}">'.encode() not in head:
        return None
    found = re.search(rb'<meta name="' + PAGE_KIND_META.encode() + rb'" content="([a-z]+)">', head)
    return found.group(1).decode() if found else None


def our_page(kind: str) -> Callable[[Path], bool]:
    """A ``recognise`` function: an HTML page this project wrote as a ``kind`` page, never another kind
    (an evaluation report is not replaced by a comparison). A page of ours from before pages named their
    kind counts as any kind."""

    def recognise(path: Path) -> bool:
        return is_our_html(path) and page_kind(path) in (kind, None)

    return recognise


def written_by(*generators: str, key: str = "generator") -> Callable[[Path], bool]:
    """A ``recognise`` function: a JSON object whose ``key`` names one of ``generators`` and that records
    the version that wrote it (content this project alone writes, not just a file name)."""

    def recognise(path: Path) -> bool:
        obj = read_json_object(path)
        return obj is not None and obj.get(key) in generators and "version" in obj

    return recognise


def check_replaceable(
    target: Path, kind: OutputKind, *, overwrite: bool, flag: str = "--out", occupied_hint: str | None = None
) -> bool:
    """Whether ``target`` (a dir) holds an output to replace; raise if it may not be written at all.

    Returns False when ``target`` is absent or an empty dir, True when it holds an output of ``kind`` that
    this project wrote and ``overwrite`` is given.

    Raises:
        UserError: ``target`` is a file, an unsafe place (``unsafe_reason``), holds anything this project
            did not write, or holds an output of ours and ``overwrite`` is not given (``occupied_hint`` then
            replaces the default advice).
    """
    reason = unsafe_reason(target)
    if reason:
        raise UserError(
            f"{flag} {target} {reason}: this project never writes over it; give a new dir, e.g. {flag} "
            f"{target / 'out'}"
        )
    if not target.exists():
        return False
    if not target.is_dir():
        raise UserError(f"{flag} {target} is a file, not a dir: choose another {flag}")
    if not any(target.iterdir()):
        return False
    if not kind.is_ours(target):
        raise UserError(
            f"{flag} {target} holds files that are not a {kind.what} written by this project: "
            f"choose another {flag} (nothing was deleted)"
        )
    foreign = kind.foreign_entries(target)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise UserError(
            f"{flag} {target} holds {foreign[0]!r}{more}, which this project did not write: move it out "
            f"of the {kind.what}, or choose another {flag} (nothing was deleted)"
        )
    if not overwrite:
        raise UserError(
            f"{flag} {target} already holds a {kind.what}: "
            + (occupied_hint or f"pass --overwrite to replace it, or choose another {flag}")
        )
    return True


def check_replaceable_file(
    path: Path, recognise: Callable[[Path], bool], *, overwrite: bool, what: str, flag: str
) -> bool:
    """Like ``check_replaceable`` for one file: False when absent, True when ours and ``overwrite`` given.

    Raises:
        UserError: ``path`` is a dir, is not a ``what`` this project wrote, or ``overwrite`` is not given.
    """
    if not path.exists():
        return False
    if path.is_dir():
        raise UserError(f"{flag}: {path} is a dir: choose another {flag}")
    if not recognise(path):
        raise UserError(
            f"{flag}: {path} exists and is not a {what} written by this project: choose another {flag} "
            "(nothing was replaced)"
        )
    if not overwrite:
        raise UserError(f"{flag}: {path} exists: pass --overwrite to replace it, or choose another {flag}")
    return True


# -- the lock ----------------------------------------------------------------------------------------------


def lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}{LOCK_SUFFIX}"


class OutputBusy(UserError):
    """Another live run holds the output's lock (the message names it)."""


class OutputLock:
    """An exclusive, ``flock``-held lock on ``target``, in the file ``.NAME.lock`` beside it.

    The kernel drops a ``flock`` when its holder dies, so a lock file a killed run left behind is simply
    taken over. The file names its holder (pid, host, start time, command) for the refusal message.
    """

    def __init__(self, target: Path, flag: str = "--out") -> None:
        self.target = target
        self.flag = flag
        self.path = lock_path(target)
        self._fd: int | None = None
        self._made: list[Path] = []  # parent dirs the lock created, removed again if still empty

    def acquire(self, *, wait: bool = False) -> OutputLock:
        """Take the lock; with ``wait``, wait for another run that holds it to end (the jobs of one study
        sharing a dataset) instead of refusing.

        Raises:
            UserError: another live run holds it (named) and ``wait`` is off, or the lock file cannot be
                created.
        """
        if self._fd is not None or fcntl is None:
            return self
        missing = self.path.parent
        while not missing.exists() and missing != missing.parent:
            self._made.append(missing)
            missing = missing.parent
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create {self.path.parent}: {exc.strerror}; choose another {self.flag}"
            ) from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UserError(
                    f"cannot write into {self.path.parent} ({exc.strerror}): choose another {self.flag}"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError:
                holder = _describe_holder(fd)
                os.close(fd)
                self._made = []  # the holder uses them
                raise OutputBusy(
                    f"{self.flag} {self.target} is being written by another run ({holder}): wait for it to "
                    f"end, or choose another {self.flag}"
                ) from None
            # The previous holder may have removed the file between our open and our flock: then we hold a
            # lock on a file nobody else can see, and must take the one at the path instead.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200],
        }
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode("utf-8"))
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before closing, so a waiter never takes a file being removed
        os.close(self._fd)
        self._fd = None
        for folder in self._made:  # deepest first: a run that wrote nothing leaves no empty dirs
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        holder = json.loads(os.read(fd, 4096).decode("utf-8"))
        return f"pid {holder['pid']} on {holder['host']}, since {holder['started']}: {holder['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a run that is still starting"


@contextmanager
def claim_output(target: Path, *, flag: str = "--out") -> Iterator[OutputLock]:
    """Hold ``target``'s lock inside the block, its leftovers from killed runs removed first."""
    with OutputLock(target, flag) as lock:
        remove_leftovers(target)
        yield lock


# -- atomic writes -----------------------------------------------------------------------------------------


def write_files_atomically(files: Mapping[Path, bytes], *, flag: str = "--out") -> None:
    """Write every file to a temporary sibling, then rename them all into place.

    Raises:
        UserError: a file could not be written (temporary files are removed).
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_sibling(path)
            temps.append((tmp, path))
            tmp.write_bytes(data)
        for tmp, path in temps:
            os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {exc.filename or 'the output'} ({exc.strerror or exc}): choose "
                        f"another {flag}") from None  # fmt: skip
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)


def write_json_atomically(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON (keys sorted, strict floats) at ``path``, via a temporary sibling."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def swap_dir_into_place(tmp: Path, target: Path, *, replace: bool, flag: str = "--out") -> None:
    """Rename the finished dir ``tmp`` to ``target``; an existing ``target`` is moved aside first and removed
    after, so a reader finds the old dir or the new one, never a mix.

    Raises:
        UserError: ``target`` appeared meanwhile although ``replace`` is False, or it is a mount point.
    """
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    occupied = target.exists() and (not target.is_dir() or any(target.iterdir()))
    if occupied and not replace:
        raise UserError(f"{flag} {target} was filled by something else meanwhile: choose another {flag}")
    if target.exists() and is_mount_point(target):
        raise UserError(f"{flag} {target} is a mount point: give a new dir below it")
    if not target.exists():
        os.rename(tmp, target)
        return
    old = aside_sibling(target)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)  # put the previous output back
        raise
    remove_path(old)
