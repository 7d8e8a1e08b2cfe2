"""The real-data commands on the command line: flags match configs; bad input is one line and exit code 2."""

from __future__ import annotations

import dataclasses
import json

import pytest

from contracts.errors import run_cli
from datagen.cli import compare, fit, group, profile, real
from datagen.config import CompareConfig, FitConfig, ImportConfig, ProfileConfig
from tests.datagen.fixtures_real import EXPECTED_IMPORTED, fixture_rows, image_server


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        run_cli(group, argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _ok(argv: list[str], capsys) -> str:
    run_cli(group, argv)  # returns normally on success
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "config"),
    [(real, ImportConfig), (profile, ProfileConfig), (fit, FitConfig), (compare, CompareConfig)],
)
def test_options_are_the_config_fields(command, config):
    """Each option or argument of a command is a field of its config and each field one (no mapping code)."""
    options = {p.name for p in command.params if p.name != "help"}
    assert options == {f.name for f in dataclasses.fields(config)}


def test_real_imports_and_prints_counts(tmp_path, capsys):
    """`datagen real --from FILE` prints rows read, imported, left out by reason, cache hits and downloads."""
    with image_server(slow_s=0.5) as server:
        source = tmp_path / "t.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in fixture_rows(server)))
        argv = [
            "real",
            "--from",
            str(source),
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(tmp_path / "c"),
        ]
        argv += ["--timeout", "0.2", "--retries", "1", "--backoff", "0.001", "--quiet"]
        out = _ok(argv, capsys)
        assert f"imported {EXPECTED_IMPORTED}" in out and "http_404 1" in out and "no_image_url 1" in out
        assert f"0 from cache, {EXPECTED_IMPORTED} downloaded" in out
        out = _ok([*argv, "--overwrite"], capsys)
        assert f"{EXPECTED_IMPORTED} from cache, 0 downloaded" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "OUT"], "exactly one source"),
        (["--from", "SRC", "--dataset", "x/y", "--out", "OUT"], "exactly one source"),
        (["--from", "ABSENT", "--out", "OUT"], "no such file"),
        (["--from", "SRC", "--out", "OUT", "--workers", "-1"], "--workers"),
        (["--from", "SRC", "--out", "OUT", "--timeout", "zero"], "--timeout"),
        (["--from", "TXT", "--out", "OUT"], "unsupported file type"),
        (["--from", "NOCOLS", "--out", "OUT"], "lacks column"),
        (["--from", "SRC", "--out", "BUSY"], "not a DATASET dir written by this project"),
        (["--dataset", "no-such-owner/no-such-dataset", "--out", "OUT"], "cannot load"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, needle):
    """Missing source, unreadable or schema-less file, bad numbers, occupied out dir, unknown hub id."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = tmp_path / "t.jsonl"
    src.write_text(json.dumps({"title": "x"}) + "\n")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "f").write_text("x")
    paths = {
        "SRC": src,
        "NOCOLS": src,
        "ABSENT": tmp_path / "absent.csv",
        "TXT": tmp_path / "table.txt",
        "OUT": tmp_path / "out",
        "BUSY": tmp_path / "busy",
    }
    argv = ["real", "--quiet", *[str(paths.get(a, a)) for a in args]]
    code, out, err = _cli(argv, capsys)
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
