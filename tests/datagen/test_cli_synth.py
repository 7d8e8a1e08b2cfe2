"""`datagen synth`: flags match SynthConfig, bad input gives one line and exit 2, a good run one summary."""

from dataclasses import fields

import pytest

from contracts.errors import run_cli
from datagen.cli import group, synth
from datagen.config import SynthConfig
from datagen.words import quantity


def _run(argv, capsys):
    """Run the CLI in-process as the console script does; return (exit code, stdout, stderr)."""
    code = 0
    try:
        run_cli(group, argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_options_are_the_config_fields():
    """Every SynthConfig field is a flag and every flag a field (no mapping code to drift)."""
    names = {p.name for p in synth.params}
    assert names == {f.name for f in fields(SynthConfig)}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--rows", "0"], "--rows must be a positive"),
        (["--rows", "-5"], "--rows must be a positive"),
        (["--rows", "many"], "many"),
        (["--rows", "1"], "--rows 1 is too few: finetune needs rows in train and validation"),
        (["--rows", "2"], "takes --rows 3 or more"),
        (["--format", "zip"], "'zip' is not one of 'auto', 'imagefolder', 'parquet'"),
        (["--rows-per-file", "-1"], "--rows-per-file must be 0 (automatic) or a positive number"),
        (["--shard", "3/2"], "--shard"),
        (["--shard", "half"], "--shard must look like I/N"),
        (["--image-size", "16"], "--image-size must be between 32 and 1024"),
        (["--image-size", "4096"], "--image-size must be between 32 and 1024"),
        (["--profile", "/nonexistent/p.json"], "no such profile file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, match):
    """Bad numbers, shard specs, sizes and profiles: exit code 2, one line on stderr, no traceback."""
    code, _, err = _run(["synth", "--out", str(tmp_path / "d"), "--rows", "3", *args], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert match in err


def test_occupied_unwritable_out_and_bad_profile_file(tmp_path, capsys):
    """An --out holding a dataset without --overwrite, or holding other files at all, an --out under a
    file, an invalid profile: exit 2, one line."""
    code, _, _ = _run(["synth", "--out", str(tmp_path / "full"), "--rows", "3", "--quiet"], capsys)
    assert code == 0
    code, _, err = _run(["synth", "--out", str(tmp_path / "full"), "--rows", "3"], capsys)
    assert code == 2 and "pass --overwrite" in err and err.count("\n") == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    code, _, err = _run(["synth", "--out", str(tmp_path / "other"), "--rows", "3", "--overwrite"], capsys)
    assert code == 2 and "not a DATASET dir" in err and (tmp_path / "other" / "x").read_text() == "x"
    (tmp_path / "file").write_text("x")
    code, _, err = _run(["synth", "--out", str(tmp_path / "file" / "d"), "--rows", "3"], capsys)
    assert code == 2 and "choose another --out" in err and err.count("\n") == 1
    (tmp_path / "p.json").write_text('{"name": 1}')
    code, _, err = _run(
        ["synth", "--out", str(tmp_path / "d"), "--rows", "3", "--profile", str(tmp_path / "p.json")], capsys
    )
    assert code == 2 and "profile" in err and err.count("\n") == 1
    assert not (tmp_path / "d").exists()


def test_good_run_prints_one_summary(tmp_path, capsys):
    """A small run exits 0 and prints one summary line with the split counts."""
    code, out, _ = _run(
        ["synth", "--out", str(tmp_path / "d"), "--rows", "12", "--image-size", "48", "--workers", "1"],
        capsys,
    )
    assert code == 0
    assert out.count("\n") == 1 and "wrote 12 rows" in out and "train" in out and "(imagefolder)" in out
    assert (tmp_path / "d" / "train").is_dir()


def test_sharded_run_and_merge_print_one_line_each(tmp_path, capsys):
    """Each job says what it wrote and what to run when all are done; the merge says what it merged."""
    args = ["synth", "--out", str(tmp_path / "d"), "--rows", "12", "--image-size", "48", "--workers", "1"]
    args += ["--format", "parquet", "--rows-per-file", "6"]
    for i in (1, 2):
        code, out, _ = _run([*args, "--shard", f"{i}/2"], capsys)
        assert code == 0 and out.count("\n") == 1 and f"wrote shard {i}/2: 6 rows" in out
        assert f"datagen synth-merge {tmp_path / 'd'}" in out
    code, out, _ = _run(["synth-merge", str(tmp_path / "d")], capsys)
    assert code == 0 and out == f"merged 2 shards into {tmp_path / 'd'}\n"
    assert (tmp_path / "d" / "data" / "train-00001-of-00002.parquet").is_file()


def test_summaries_count_in_the_right_number(tmp_path, capsys):
    """A job of one row says "1 row", a merge of one shard "1 shard"; more are plural."""
    args = ["synth", "--out", str(tmp_path / "d"), "--rows", "3", "--image-size", "32", "--workers", "1"]
    args += ["--format", "parquet", "--rows-per-file", "1"]
    code, out, _ = _run([*args, "--shard", "1/3"], capsys)
    assert code == 0 and "wrote shard 1/3: 1 row (" in out
    code, out, _ = _run(["synth", "--out", str(tmp_path / "one"), "--rows", "3", "--image-size", "32",
                         "--workers", "1", "--shard", "1/1"], capsys)  # fmt: skip
    assert code == 0 and "wrote shard 1/1: 3 rows (" in out
    code, out, _ = _run(["synth-merge", str(tmp_path / "one")], capsys)
    assert code == 0 and out == f"merged 1 shard into {tmp_path / 'one'}\n"
    assert [quantity(n, "entry", "entries") for n in (0, 1, 2)] == ["0 entries", "1 entry", "2 entries"]
    assert quantity(3040, "row", sep=True) == "3,040 rows"
