"""Claiming outputs: what may be replaced, the lock between runs, leftovers of killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.errors import UserError
from contracts.outputs import (
    COMPARISON_PAGE,
    EVALUATION_PAGE,
    FIDELITY_PAGE,
    OutputKind,
    OutputLock,
    check_replaceable,
    check_replaceable_file,
    claim_output,
    lock_path,
    our_page,
    page_kind,
    temp_sibling,
    unsafe_reason,
    write_files_atomically,
)

KIND = OutputKind(
    what="THING dir", marker="thing.json", entries=("thing.json", "data"), inside={"data": ("*.bin",)}
)


def _ours(path: Path) -> Path:
    (path / "data").mkdir(parents=True)
    (path / "thing.json").write_text("{}")
    (path / "data" / "a.bin").write_bytes(b"1")
    return path


@pytest.mark.parametrize("where", ["root", "home", "cwd", "cwd_parent", "mount"])
def test_unsafe_places_are_refused_whatever_the_flags(where, tmp_path, monkeypatch):
    """/, the home folder, the working directory, a parent of it and a mount point are never replaced."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    mount = tmp_path / "mnt"
    mount.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mount or real_ismount(p))
    target = {"root": Path("/"), "home": tmp_path / "home", "cwd": Path("."), "cwd_parent": Path(".."),
              "mount": mount}[where]  # fmt: skip
    assert unsafe_reason(target)
    with pytest.raises(UserError, match="never writes over it"):
        check_replaceable(target, KIND, overwrite=True)


def test_only_an_output_of_ours_with_nothing_else_is_replaced(tmp_path):
    """Absent or empty: fine. Ours: needs --overwrite. Foreign, or ours with a foreign file: refused."""
    assert check_replaceable(tmp_path / "absent", KIND, overwrite=False) is False
    (tmp_path / "empty").mkdir()
    assert check_replaceable(tmp_path / "empty", KIND, overwrite=False) is False
    ours = _ours(tmp_path / "ours")
    with pytest.raises(UserError, match="pass --overwrite"):
        check_replaceable(ours, KIND, overwrite=False)
    assert check_replaceable(ours, KIND, overwrite=True) is True
    (ours / "data" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="'data/notes.txt'.*did not write"):
        check_replaceable(ours, KIND, overwrite=True)
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "x").write_text("x")
    with pytest.raises(UserError, match="not a THING dir written by this project"):
        check_replaceable(tmp_path / "theirs", KIND, overwrite=True)


def test_lock_admits_one_holder_and_names_it(tmp_path):
    """A second claim is refused while the first holds; once released, it is free and the file is gone."""
    target = tmp_path / "out"
    with OutputLock(target):
        with pytest.raises(UserError, match=r"being written by another run \(pid \d+ on .*since"):
            OutputLock(target).acquire()
    assert not lock_path(target).exists()
    with OutputLock(target):
        pass


def test_lock_of_a_killed_holder_is_taken_over(tmp_path):
    """A process killed with -9 while holding the lock leaves its file; the next claim takes it over."""
    target = tmp_path / "out"
    code = (
        "import sys, time; from pathlib import Path; from contracts.outputs import OutputLock;"
        f"OutputLock(Path({str(target)!r})).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            OutputLock(target).acquire()
    finally:
        holder.kill()
        holder.wait()
    assert lock_path(target).exists()  # left behind by the killed holder
    with OutputLock(target):
        pass


def test_claim_removes_what_a_killed_run_left_beside_the_output(tmp_path):
    """Temporary siblings of the output (of this output only) are removed by the next claim."""
    target = tmp_path / "out"
    stale_dir, stale_file = temp_sibling(target), temp_sibling(tmp_path / "report.html")
    stale_dir.mkdir()
    (stale_dir / "x").write_bytes(b"x" * 100)
    stale_file.write_text("half")
    other = temp_sibling(tmp_path / "other")
    other.mkdir()
    with claim_output(target):
        pass
    assert not stale_dir.exists() and stale_file.exists() and other.exists()
    with claim_output(tmp_path / "report.html"):
        pass
    assert not stale_file.exists()


def test_atomic_files_leave_no_temporary(tmp_path):
    """Written files appear whole; nothing beside them is left."""
    write_files_atomically({tmp_path / "a.json": b"{}", tmp_path / "b.txt": b"b"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.txt"]


def test_lock_made_parent_dirs_go_when_nothing_was_written(tmp_path):
    """A claim that wrote nothing (a failed start) leaves no empty dirs behind."""
    with OutputLock(tmp_path / "x" / "y" / "out"):
        assert (tmp_path / "x" / "y").is_dir()
    assert not (tmp_path / "x").exists()


def _page(kind: str | None, generator: str = "phi3v-catalogue") -> str:
    meta = f'<meta name="phi3v-catalogue-page" content="{kind}">' if kind else ""
    return f'<!doctype html><html><head><meta name="generator" content="{generator}">{meta}</head></html>'


def test_pages_are_recognised_by_their_kind(tmp_path):
    """An evaluation report is never taken for a comparison or a fidelity page, nor the reverse; a page of
    ours from before pages named their kind is any kind; another author's page is none."""
    pages = {}
    for name, text in {
        "evaluation": _page(EVALUATION_PAGE),
        "comparison": _page(COMPARISON_PAGE),
        "fidelity": _page(FIDELITY_PAGE),
        "older": _page(None),
        "foreign": _page(EVALUATION_PAGE, generator="someone-else"),
    }.items():
        pages[name] = tmp_path / f"{name}.html"
        pages[name].write_text(text)
    assert page_kind(pages["comparison"]) == COMPARISON_PAGE and page_kind(pages["older"]) is None
    for kind in (EVALUATION_PAGE, COMPARISON_PAGE, FIDELITY_PAGE):
        accepted = {name for name, path in pages.items() if our_page(kind)(path)}
        assert accepted == {kind, "older"}
    with pytest.raises(UserError, match="not a report written by this project"):
        check_replaceable_file(
            pages["evaluation"], our_page(FIDELITY_PAGE), overwrite=True, what="report", flag="--report"
        )


@pytest.fixture
def bind_mount(tmp_path):
    """An empty dir bind-mounted from the same file system (os.path.ismount does not see it); skipped where
    mounting is not allowed."""
    source, target = tmp_path / "source dir", tmp_path / "mounted dir"
    source.mkdir()
    target.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts need root (mount --bind)")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_a_bind_mount_is_refused_before_any_work(bind_mount, tmp_path):
    """--out on an empty bind mount of the same file system: one line naming it, exit 2, from every command
    that writes a dir (renaming over it would fail with EBUSY after the work)."""
    assert not os.path.ismount(bind_mount) and unsafe_reason(bind_mount) == "is a mount point"
    data = tmp_path / "data"
    synth = ["-m", "datagen.cli", "synth", "--rows", "40", "--image-size", "32", "--quiet", "--out"]
    subprocess.run([sys.executable, *synth, str(data)], check=True, capture_output=True, timeout=120)
    for argv in (
        [*synth, str(bind_mount)],
        ["-m", "finetune.cli", "--data", str(data), "--out", str(bind_mount), "--wandb", "off"],
    ):
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "is a mount point" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert list(bind_mount.iterdir()) == []
