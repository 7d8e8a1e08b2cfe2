"""The two layouts of `datagen synth`: the same rows and pixels through `datasets` and through our reader."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from contracts.dataset import hub, layout, reader
from contracts.dataset.schema import COLUMNS
from datagen.config import PARQUET_FROM_ROWS, SynthConfig
from datagen.synth.run import synthesize

ROWS = 45


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same run (45 rows, 48 px, blocks of 20 rows) in both layouts."""
    root = tmp_path_factory.mktemp("layouts")
    out = {}
    for fmt in ("imagefolder", "parquet"):
        cfg = SynthConfig(
            out=str(root / fmt), rows=ROWS, image_size=48, seed=2, workers=1, quiet=True, format=fmt,
            rows_per_file=20,
        )  # fmt: skip
        out[fmt] = synthesize(cfg)
    return out


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_parquet_layout_is_the_hubs(pair):
    """data/{split}-NNNNN-of-MMMMM.parquet per block, image struct + 17 columns with the `datasets`
    features in the schema metadata, row groups of 100, JPEG bytes stored uncompressed."""
    datasets = pytest.importorskip("datasets")
    root = pair["parquet"]
    names = sorted(p.name for p in (root / layout.DATA_DIR).iterdir())
    for split in layout.SPLITS:  # one file per block holding rows of the split; 3 blocks of train rows
        mine = [n for n in names if n.startswith(f"{split}-")]
        assert mine == [f"{split}-{i:05d}-of-{len(mine):05d}.parquet" for i in range(len(mine))]
        assert 1 <= len(mine) <= 3 and (split != "train" or len(mine) == 3)
    assert not any((root / s).exists() for s in layout.SPLITS)
    path = root / layout.DATA_DIR / "train-00000-of-00003.parquet"
    schema = pq.read_schema(path)
    expected = datasets.Features.from_dict(hub.features()).arrow_schema
    assert schema.names == [layout.IMAGE_COLUMN, *COLUMNS] and schema.equals(expected, check_metadata=True)
    meta = pq.ParquetFile(path).metadata
    assert all(meta.row_group(g).num_rows <= hub.ROW_GROUP_ROWS for g in range(meta.num_row_groups))
    assert meta.row_group(0).column(0).compression == "UNCOMPRESSED"
    first = pq.read_table(path).slice(0, 1).to_pylist()[0]
    assert first[layout.IMAGE_COLUMN]["path"] == f"{first['product_code']}.jpg"
    assert first[layout.IMAGE_COLUMN]["bytes"][:2] == b"\xff\xd8"  # a JPEG
    card = (root / layout.CARD_FILE).read_text()
    assert "path: data/train-*" in card and "num_bytes:" in card


def test_both_layouts_load_with_datasets_alike(pair, tmp_path):
    """load_dataset(DIR) gives the same rows and pixels in both layouts, typed by the card's features;
    streaming gives the same rows in the same order."""
    datasets = pytest.importorskip("datasets")
    loaded = {
        fmt: datasets.load_dataset(str(path), cache_dir=str(tmp_path / fmt)) for fmt, path in pair.items()
    }
    for split in layout.SPLITS:
        a, b = loaded["imagefolder"][split], loaded["parquet"][split]
        assert isinstance(b.features["image"], datasets.Image)
        assert {n: b.features[n].dtype for n in COLUMNS} == COLUMNS
        rows_a = {r["product_code"]: r for r in a}
        assert len(rows_a) == len(b) > 0
        for row in b:
            other = rows_a[row["product_code"]]
            assert {c: row[c] for c in COLUMNS} == {c: other[c] for c in COLUMNS}
            assert np.array_equal(_pixels(row["image"]), _pixels(other["image"]))
        streamed = list(datasets.load_dataset(str(pair["parquet"]), split=split, streaming=True))
        assert [r["product_code"] for r in streamed] == b["product_code"]
        assert all(
            np.array_equal(_pixels(s["image"]), _pixels(r["image"])) for s, r in zip(streamed, b, strict=True)
        )
    folder = datasets.load_dataset(
        "imagefolder", data_dir=str(pair["imagefolder"]), cache_dir=str(tmp_path / "f")
    )
    assert sum(d.num_rows for d in folder.values()) == ROWS


def test_reader_gives_the_same_frames_and_images_for_both(pair):
    """read_split: equal frames (image references aside) whose references load the same pixels;
    iter_rows: the same rows one by one, images included."""
    for split in layout.SPLITS:
        a = reader.read_split(pair["imagefolder"], split)
        b = reader.read_split(pair["parquet"], split)
        assert a.drop(columns=reader.IMAGE_PATH).equals(b.drop(columns=reader.IMAGE_PATH))
        assert b[reader.IMAGE_PATH].str.contains(r"\.parquet#\d+$").all()
        for ref_a, ref_b in zip(a[reader.IMAGE_PATH], b[reader.IMAGE_PATH], strict=True):
            assert np.array_equal(_pixels(reader.load_image(ref_a)), _pixels(reader.load_image(ref_b)))
            assert reader.image_bytes(ref_a) == reader.image_bytes(ref_b)
        for fmt, frame in (("imagefolder", a), ("parquet", b)):
            rows = list(reader.iter_rows(pair[fmt], split, images=True))
            assert [r["product_code"] for r in rows] == frame["product_code"].tolist()
            assert [r[reader.IMAGE_PATH] for r in rows] == frame[reader.IMAGE_PATH].tolist()
            assert [r["image"] for r in rows] == [reader.image_bytes(p) for p in frame[reader.IMAGE_PATH]]
    assert reader.read_latents(pair["parquet"]).equals(reader.read_latents(pair["imagefolder"]))
    assert reader.stored_types(pair["parquet"]) == reader.stored_types(pair["imagefolder"])


def test_info_lists_every_file_with_its_hash(pair):
    """dataset_info.json names the layout and each data and latents file with rows, bytes and sha256;
    the row counts add up to the split counts."""
    import hashlib

    info = json.loads((pair["parquet"] / layout.INFO_FILE).read_text())
    assert info["format"] == "parquet" and info["args"]["rows_per_file"] == 20
    rows = dict.fromkeys(layout.SPLITS, 0)
    for record in info["data_files"]:
        data = (pair["parquet"] / record["path"]).read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["bytes"] == len(data)
        parsed = layout.parse_data_file(record["path"].split("/")[-1])
        if parsed:
            rows[parsed[0]] += record["rows"]
    assert rows == info["split_counts"] and sum(rows.values()) == ROWS
    assert layout.dataset_fingerprint(pair["parquet"]) != layout.dataset_fingerprint(pair["imagefolder"])


def test_auto_format_picks_parquet_for_large_runs():
    """--format auto: imagefolder below PARQUET_FROM_ROWS rows, parquet from there; explicit wins."""
    assert SynthConfig(rows=PARQUET_FROM_ROWS - 1).layout == "imagefolder"
    assert SynthConfig(rows=PARQUET_FROM_ROWS).layout == "parquet"
    assert SynthConfig(rows=PARQUET_FROM_ROWS, format="imagefolder").layout == "imagefolder"
    assert SynthConfig(rows=10, format="parquet").content_args()["format"] == "parquet"


def test_overwrite_replaces_only_a_parquet_dataset_of_ours(tmp_path):
    """--overwrite replaces a parquet DATASET dir this project wrote (in a temp sibling, renamed at the end);
    one holding a file of the user's under data/, or whose dataset_info.json another tool wrote, stays
    whole."""
    from contracts.errors import UserError

    def run(out, **change):
        cfg = dict(out=str(out), rows=6, image_size=32, workers=1, quiet=True, format="parquet", seed=1)
        return synthesize(SynthConfig(**{**cfg, **change}))

    out = run(tmp_path / "d")
    first = sorted(p.name for p in (out / layout.DATA_DIR).iterdir())
    again = run(out, overwrite=True, seed=2)
    assert sorted(p.name for p in (again / layout.DATA_DIR).iterdir()) == first
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temp sibling left
    (out / layout.DATA_DIR / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="notes.txt"):
        run(out, overwrite=True)
    (out / layout.DATA_DIR / "notes.txt").unlink()
    info = json.loads((out / layout.INFO_FILE).read_text())
    (out / layout.INFO_FILE).write_text(json.dumps({k: v for k, v in info.items() if k != "version"}))
    with pytest.raises(UserError, match="not a DATASET dir written by this project"):
        run(out, overwrite=True)
    assert sorted(p.name for p in (out / layout.DATA_DIR).iterdir()) == first
