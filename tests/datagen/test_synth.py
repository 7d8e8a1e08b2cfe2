"""synthesize(): DBQ regularities, determinism across workers and shards, atomicity."""

import hashlib
import json
import re

import pytest

from contracts.dataset import layout, reader
from contracts.dataset.schema import COLUMN_NAMES
from datagen.catalogue.profile import builtin_profile
from datagen.config import SynthConfig
from datagen.synth.oracle import oracle_answer
from datagen.synth.run import synthesize
from datagen.synth.sample import build_row

UUID = r"[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}"  # upper case, as the real URLs


def _synth(out, **kw):
    args = {"rows": 40, "image_size": 64, "seed": 0, "workers": 1, "quiet": True, **kw}
    return synthesize(SynthConfig(out=str(out), **args))


def test_rows_follow_dbq_regularities(tiny_synth):
    """Constant columns, equal prices, EUR at 0.9225 to the cent, URLs built from title and code."""
    data = reader.read_dataset(tiny_synth)
    frame = __import__("pandas").concat(data.values())
    assert len(frame) == 40 and frame["product_code"].is_unique
    for col, value in [
        ("website_name", "Burberry"),
        ("competence_date", "2023-11-17"),
        ("country_code", "USA"),
        ("currency_code", "USD"),
        ("brand", "BURBERRY"),
        ("flg_discount", 0),
    ]:
        assert set(frame[col]) == {value}
    assert (frame["price"] == frame["full_price"]).all() and (
        frame["price_eur"] == frame["full_price_eur"]
    ).all()
    assert (abs(frame["full_price"] * 0.9225 - frame["full_price_eur"]) <= 0.0051).all()
    assert frame["product_code"].between(26_000_000, 80_900_000).all()
    assert frame["title"].str.len().between(8, 71).all()
    for title, code, url, img in frame[["title", "product_code", "itemurl", "imageurl"]].itertuples(
        index=False
    ):
        slug = "-".join(w for w in title.lower().split() if w != "and")
        assert url == f"https://us.burberry.com/{slug}-p{code}"
        assert img == "N.A." or re.fullmatch(
            rf"https://assets\.burberry\.com/is/image/Burberryltd/{UUID}", img
        )
    assert (frame["file_name"] == frame["product_code"].astype(str) + ".jpg").all()


def test_latents_rebuild_rows_and_oracle_matches(tiny_synth):
    """Each latent alone rebuilds its row; the oracle gets title and category exactly."""
    profile = builtin_profile()
    rows = {
        r["product_code"]: r for f in reader.read_dataset(tiny_synth).values() for r in f.to_dict("records")
    }
    latents = [json.loads(x) for f in reader.latent_files(tiny_synth) for x in f.read_text().splitlines()]
    assert sorted(lat["product_code"] for lat in latents) == sorted(rows)
    for latent in latents:
        row = rows[latent["product_code"]]
        assert build_row(latent, profile) == {c: row[c] for c in COLUMN_NAMES}
        answer = oracle_answer(latent, profile)
        assert answer["title"] == row["title"] and answer["category3_code"] == row["category3_code"]
        assert abs(answer["full_price"] - row["full_price"]) / row["full_price"] < 0.25


def test_info_and_card_describe_the_run(tiny_synth):
    """dataset_info.json and the card carry generator, version, seed, args, counts and the command."""
    info = reader.read_info(tiny_synth)
    assert info["generator"] == "datagen synth" and info["seed"] == 0 and info["rows"] == 40
    assert info["args"]["rows"] == 40 and info["args"]["image_size"] == 64
    assert sum(info["split_counts"].values()) == 40 and info["shard"] is None
    assert info["format"] == "imagefolder" and info["args"]["rows_per_file"] == 100_000
    listed = {r["path"]: r for r in info["data_files"]}
    assert set(listed) == {"latents/latents-00000-of-00001.jsonl"} | {
        f"{s}/{layout.METADATA_FILE}" for s in layout.SPLITS
    }
    for path, record in listed.items():
        data = (tiny_synth / path).read_bytes()
        assert record["bytes"] == len(data) and record["sha256"] == hashlib.sha256(data).hexdigest()
    card = (tiny_synth / layout.CARD_FILE).read_text()
    assert card.startswith("---\n") and "config_name: default" in card
    assert info["command"] in card
    assert info["command"] == (
        "datagen synth --rows 40 --out DIR --seed 0 --image-size 64 --format imagefolder "
        "--rows-per-file 100000"
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["imagefolder", "parquet"])
def test_same_bytes_with_one_or_two_workers(tmp_path, tree_bytes, fmt):
    """The worker count changes nothing: every file is byte-identical, in either layout."""
    one = _synth(tmp_path / "one", rows=80, workers=1, format=fmt, rows_per_file=30)
    two = _synth(tmp_path / "two", rows=80, workers=2, format=fmt, rows_per_file=30)
    assert tree_bytes(one) == tree_bytes(two)
    again = _synth(tmp_path / "one", rows=80, workers=2, format=fmt, rows_per_file=30, overwrite=True)
    assert tree_bytes(again) == tree_bytes(one)


def test_seed_changes_the_data(tmp_path, tree_bytes):
    """Another seed gives other rows."""
    a = _synth(tmp_path / "a", rows=6, seed=1)
    b = _synth(tmp_path / "b", rows=6, seed=2)
    assert tree_bytes(a) != tree_bytes(b)


def test_failure_mid_run_leaves_no_output(tmp_path, monkeypatch):
    """An exception while rendering leaves neither the output dir nor a temp dir behind."""
    import datagen.synth.run as synth_module

    calls = {"n": 0}
    real = synth_module.render_row

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(synth_module, "render_row", flaky)
    with pytest.raises(RuntimeError):
        _synth(tmp_path / "data", rows=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_failure_with_worker_pool_leaves_no_output(tmp_path, monkeypatch):
    """An error in the main process while workers write images: pool stopped, temp dir removed, no output."""
    from datagen.synth.sink import BlockSink

    real = BlockSink.add
    seen = {"n": 0}

    def flaky(self, *args):
        seen["n"] += 1
        if seen["n"] == 40:
            raise KeyboardInterrupt
        real(self, *args)

    monkeypatch.setattr(BlockSink, "add", flaky)
    with pytest.raises(KeyboardInterrupt):
        _synth(tmp_path / "data", rows=200, workers=2)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_imagefolder_loads_synthetic_dataset(tiny_synth, tmp_path):
    """imagefolder (and the card's YAML, via load_dataset(DIR)) give the Image column and schema dtypes."""
    datasets = pytest.importorskip("datasets")
    from contracts.dataset.schema import COLUMNS

    for ds in (
        datasets.load_dataset("imagefolder", data_dir=str(tiny_synth), cache_dir=str(tmp_path / "c1")),
        datasets.load_dataset(str(tiny_synth), cache_dir=str(tmp_path / "c2")),
    ):
        assert sum(d.num_rows for d in ds.values()) == 40
        features = ds["train"].features
        assert isinstance(features["image"], datasets.Image)
        assert {n: features[n].dtype for n in COLUMNS} == COLUMNS
        assert ds["train"][0]["image"].size == (64, 64)
