"""Sharded runs in place: the N jobs of `datagen synth --shard I/N --out DIR` write into one DATASET dir.

Each job writes the files of its own blocks (names no other job uses) and, last, its manifest
``shards/shard-IIIII-of-NNNNN.json``: the run it belongs to, its blocks, its split counts and every file it
wrote with rows, size and sha256. `datagen synth-merge DIR` (``datagen.synth.merge``) checks the manifests and
writes the index and the card. A job holds a lock on its manifest while it runs, so two jobs with one index
are refused; a job killed midway leaves no manifest, and running it again replaces its files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from contracts.dataset import layout
from contracts.errors import UserError
from contracts.outputs import OutputLock, read_json_object, unsafe_reason, write_files_atomically

_MANIFEST = re.compile(r"shard-(\d{5,})-of-(\d{5,})\.json")
RUN_KEYS = ("generator", "version", "format", "args", "profile")  # equal in every manifest of one run


def manifest_name(path: Path) -> tuple[int, int] | None:
    """(I, N) of a manifest's file name; None for any other name."""
    match = _MANIFEST.fullmatch(path.name)
    return (int(match[1]), int(match[2])) if match else None


def read_manifests(root: Path) -> dict[Path, dict | None]:
    """Every manifest under ``root/shards`` by path, its content (None if unreadable), in name order."""
    folder = root / layout.SHARDS_DIR
    if not folder.is_dir():
        return {}
    paths = sorted(p for p in folder.iterdir() if manifest_name(p) and p.is_file())
    return {p: read_json_object(p) for p in paths}


def describe_difference(run: dict, other: dict) -> str:
    """What differs between two runs' identities, in a few words (``seed 1, not 0``)."""
    for key in RUN_KEYS:
        if run.get(key) == other.get(key):
            continue
        if key == "args":
            for arg in sorted(set(run["args"]) | set(other.get("args") or {})):
                mine, theirs = run["args"].get(arg), (other.get("args") or {}).get(arg)
                if mine != theirs:
                    return f"{arg.replace('_', ' ')} {json.dumps(theirs)}, not {json.dumps(mine)}"
        if key == "version":
            return f"written by datagen {other.get('version')}, not {run.get('version')}"
        return f"{key} {json.dumps(other.get(key))}, not {json.dumps(run.get(key))}"
    return "the same run"


class ShardJob:
    """Job I of N of a sharded run writing into ``out`` (see the module docstring); a context manager."""

    def __init__(self, out: str | Path, index: int, count: int, run: dict, overwrite: bool = False) -> None:
        self.out = Path(out).expanduser().absolute()
        self.index, self.count, self.run, self.overwrite = index, count, run, overwrite
        self.manifest = self.out / layout.shard_manifest(index, count)
        self._lock = OutputLock(self.manifest)
        self.check()

    @property
    def label(self) -> str:
        return f"shard {self.index}/{self.count}"

    def check(self) -> None:
        """Refuse an ``out`` this job may not write into (see ``__enter__``), before any work.

        Raises:
            UserError: ``out`` is unsafe, a file, a finished dataset, holds files that are not ours or
                shards of another run, or already holds this shard (without ``overwrite``).
        """
        out = self.out
        reason = unsafe_reason(out)
        if reason:
            raise UserError(f"--out {out} {reason}: this project never writes there; give a new dir")
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out} is a file, not a dir: choose another --out")
        if not out.exists():
            return
        if (out / layout.INFO_FILE).exists():
            raise UserError(
                f"--out {out} holds a finished dataset: the jobs of a sharded run write into a new dir "
                "(or one holding shards of the same run); choose another --out"
            )
        foreign = layout.DATASET_KIND.foreign_entries(out)
        if foreign:
            raise UserError(
                f"--out {out} holds {foreign[0]!r}, which this project did not write: choose another --out"
            )
        for path, manifest in read_manifests(out).items():
            label = "shard {}/{}".format(*manifest_name(path))  # type: ignore[str-format]
            if manifest is None:
                raise UserError(f"{path} is unreadable: remove it and rerun {label}")
            if manifest_name(path)[1] != self.count:  # type: ignore[index]
                raise UserError(
                    f"--out {out} holds {label}, of a run in {manifest_name(path)[1]} jobs, not "  # type: ignore[index]
                    f"{self.count}: give each run its own --out"
                )
            identity = {k: manifest.get(k) for k in RUN_KEYS}
            if identity != self.run:
                raise UserError(
                    f"--out {out} holds {label} of another run ({describe_difference(self.run, identity)}): "
                    "give each run its own --out"
                )
        if self.manifest.exists() and not self.overwrite:
            raise UserError(
                f"--out {out} already holds {self.label}: pass --overwrite to write it again, or choose "
                "another --out"
            )

    def __enter__(self) -> ShardJob:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {self.out}: {exc.strerror}; choose another --out") from None
        self._lock.acquire()
        try:
            self.check()  # again, now that no other run of this shard can change it
            self.manifest.unlink(missing_ok=True)  # from here on this shard is not done
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def finish(self, manifest: dict, profile_bytes: bytes) -> Path:
        """Write the catalogue profile (every job writes the same bytes) and, last, this job's manifest."""
        write_files_atomically({self.out / layout.PROFILE_FILE: profile_bytes})
        body = {**self.run, **manifest}
        write_files_atomically(
            {self.manifest: (json.dumps(body, indent=1, ensure_ascii=False) + "\n").encode("utf-8")}
        )
        return self.manifest
