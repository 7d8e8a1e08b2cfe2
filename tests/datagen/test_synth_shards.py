"""Sharded runs: N jobs write into one DATASET dir; `synth-merge` checks them, writes the index and card."""

import json

import pytest

from contracts.dataset import layout
from contracts.errors import UserError, run_cli
from datagen.cli import group
from datagen.config import SynthConfig
from datagen.synth.merge import merge_shards
from datagen.synth.run import synthesize

BASE = {"rows": 40, "image_size": 48, "seed": 0, "workers": 1, "quiet": True, "rows_per_file": 10}


def _job(out, shard, **kw):
    return synthesize(SynthConfig(out=str(out), **{**BASE, "shard": shard, **kw}))


def _jobs(out, n=3, **kw):
    for i in range(1, n + 1):
        _job(out, f"{i}/{n}", **kw)
    return out


def _cli(argv, capsys):
    code = 0
    try:
        run_cli(group, argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_jobs_plus_merge_equal_one_run(tmp_path, tree_bytes, fmt):
    """Three jobs (one with two workers) into one dir, then the merge: byte-identical to the run without
    --shard; the merge copies no image and removes the job manifests; merging again changes nothing."""
    one = synthesize(SynthConfig(out=str(tmp_path / "one"), **BASE, format=fmt))
    out = tmp_path / "sharded"
    _job(out, "2/3", format=fmt, workers=2)
    _job(out, "3/3", format=fmt)
    _job(out, "1/3", format=fmt)
    manifest = json.loads((out / layout.shard_manifest(2, 3)).read_text())
    assert manifest["shard"]["blocks"] == [1, 2] and manifest["args"]["format"] == fmt
    images = {p: p.stat().st_ino for p in out.rglob("*.jpg")} | {
        p: p.stat().st_ino for p in out.rglob("*.parquet")
    }
    path, count, before = merge_shards(out)
    assert (path, count, before) == (out, 3, False)
    assert tree_bytes(out) == tree_bytes(one)
    assert all(p.stat().st_ino == ino for p, ino in images.items() if p.exists())  # nothing copied
    assert merge_shards(out)[2] is True and tree_bytes(out) == tree_bytes(one)


def test_more_jobs_than_blocks_and_rerunning_a_job(tmp_path, tree_bytes):
    """Jobs beyond the blocks write nothing but their manifest; a job rerun with --overwrite gives the same
    files; without it the job is refused."""
    out = _jobs(tmp_path / "d", n=6, format="parquet")
    manifest = json.loads((out / layout.shard_manifest(4, 6)).read_text())  # 4 blocks for 6 jobs
    assert manifest["files"] == [] and manifest["shard"]["blocks"] == [2, 2]
    with pytest.raises(UserError, match="already holds shard 2/6: pass --overwrite"):
        _job(out, "2/6", format="parquet")
    snapshot = tree_bytes(out)
    _job(out, "2/6", format="parquet", overwrite=True)
    assert tree_bytes(out) == snapshot
    merge_shards(out)
    one = synthesize(SynthConfig(out=str(tmp_path / "one"), **BASE, format="parquet"))
    assert tree_bytes(out) == tree_bytes(one)


def test_a_failed_job_leaves_none_of_its_files(tmp_path, monkeypatch):
    """An error midway: the job's finished files are removed, it writes no manifest; the merge then names
    it as missing."""
    import datagen.synth.run as synth_module

    _job(tmp_path / "d", "1/2", format="parquet")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    real = synth_module.render_row
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 15:  # row 34: in the second of job 2's blocks (rows 20-29, 30-39)
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(synth_module, "render_row", flaky)
    with pytest.raises(RuntimeError):
        _job(tmp_path / "d", "2/2", format="parquet")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    with pytest.raises(UserError, match="shard 2/2 is missing"):
        merge_shards(tmp_path / "d")


def test_jobs_refuse_a_dir_of_another_run_or_a_finished_dataset(tmp_path):
    """A job into a dir holding shards of another run (seed, job count) or a finished dataset is refused."""
    out = tmp_path / "d"
    _job(out, "1/2")
    with pytest.raises(UserError, match=r"shard 1/2 of another run \(seed 0, not 1\)"):
        _job(out, "2/2", seed=1)
    with pytest.raises(UserError, match="of a run in 2 jobs, not 3"):
        _job(out, "2/3")
    with pytest.raises(UserError, match="format"):
        _job(out, "2/2", format="parquet")
    _job(out, "2/2")
    merge_shards(out)
    with pytest.raises(UserError, match="holds a finished dataset"):
        _job(out, "1/2", overwrite=True)


def _state(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ("missing_shard", r"shard 2/3 is missing \(no shards/shard-00002-of-00003.json"),
        ("missing_image", r"shard 3/3 lacks its image (train|validation|test)/\d+\.jpg: run that job again"),
        ("missing_file", r"shard 1/3 lacks its file latents/latents-00000-of-00004.jsonl"),
        ("truncated_file", r"shard 1/3's file latents/latents-00000-of-00004.jsonl has \d+ bytes"),
        ("other_seed", r"shard 3/3 comes from another run than shard 1/3 \(seed 5, not 0\)"),
        ("other_count", "holds shards of runs in 3 and in 4 jobs"),
        ("other_version", r"shard 2/3 comes from another run .*written by datagen 0\.0\.1"),
        ("stray_image", r"holds 1 image that no shard of this run wrote"),
    ],
)
def test_merge_refuses_bad_shards_naming_them(tmp_path, capsys, damage, match):
    """A missing shard, a shard lacking an image or a file, shards of another run, size or version: one
    line naming the shard, exit 2, nothing written."""
    out = _jobs(tmp_path / "d")
    if damage == "missing_shard":
        (out / layout.shard_manifest(2, 3)).unlink()
    elif damage == "missing_image":
        part = json.loads((out / layout.shard_manifest(3, 3)).read_text())["parts"][0]["path"]
        import pyarrow.parquet as pq

        name = pq.read_table(out / part).column("file_name")[0].as_py()
        (out / part.split("/")[-1].removesuffix(".parquet") / name).unlink()
    elif damage in ("missing_file", "truncated_file"):
        path = out / "latents/latents-00000-of-00004.jsonl"
        path.unlink() if damage == "missing_file" else path.write_text("{}\n")
    elif damage == "other_seed":
        _job(tmp_path / "other", "3/3", seed=5)
        (out / layout.shard_manifest(3, 3)).write_bytes(
            (tmp_path / "other" / layout.shard_manifest(3, 3)).read_bytes()
        )
    elif damage == "other_count":
        _job(tmp_path / "other", "1/4")
        name = layout.shard_manifest(1, 4)
        (out / name).write_bytes((tmp_path / "other" / name).read_bytes())
    elif damage == "other_version":
        path = out / layout.shard_manifest(2, 3)
        path.write_text(json.dumps({**json.loads(path.read_text()), "version": "0.0.1"}))
    elif damage == "stray_image":
        (out / "train" / "12345678.jpg").write_bytes(b"\xff\xd8")
    before = _state(out)
    code, _, err = _cli(["synth-merge", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert __import__("re").search(match, err), err
    assert _state(out) == before and not (out / layout.INFO_FILE).exists()


def test_merge_of_a_plain_dir_names_the_jobs(tmp_path, capsys):
    """A dir without shards, or no dir at all: one line saying what to run."""
    (tmp_path / "empty").mkdir()
    code, _, err = _cli(["synth-merge", str(tmp_path / "empty")], capsys)
    assert code == 2 and "holds no shard manifests" in err and err.count("\n") == 1
    code, _, err = _cli(["synth-merge", str(tmp_path / "nope")], capsys)
    assert code == 2 and "no such dir" in err
