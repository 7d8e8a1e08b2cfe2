"""The parquet layout of a DATASET dir: written row group by row group, read like the imagefolder layout."""

import hashlib
import io

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from contracts.dataset import hub, layout, reader
from contracts.dataset.files import LinesWriter, RowGroupWriter
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.errors import UserError


def _row(code: int) -> tuple:
    values = {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "category1_code": "WOMAN",
        "category2_code": "BAGS",
        "category3_code": "TOTES",
        "product_code": code,
        "title": f"Check Tote {code}",
        "itemurl": f"https://us.burberry.com/check-tote-p{code}",
        "imageurl": "N.A.",
        "full_price": 1290.0,
        "price": 1290.0,
        "full_price_eur": 1190.03,
        "price_eur": 1190.03,
        "flg_discount": 0,
    }
    return tuple(values[c] for c in COLUMN_NAMES)


def _jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 100, 50)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _data_file(root, split, index, count, codes, group_rows=2):
    writer = RowGroupWriter(
        root, layout.data_file(split, index, count), hub.data_schema(), group_rows, hub.data_write_options()
    )
    for code in codes:
        writer.add(((_jpeg(code % 200), f"{code}.jpg"), *_row(code)))
    return writer.close()


@pytest.fixture
def parquet_dir(tmp_path):
    root = tmp_path / "data"
    _data_file(root, "train", 0, 2, [100, 101, 102])
    _data_file(root, "train", 1, 2, [103, 104])
    _data_file(root, "test", 0, 1, [105])
    return root


def test_split_frame_has_schema_dtypes_and_image_references(parquet_dir):
    """The frame is the imagefolder one: file_name, the 17 columns, image_path; references open."""
    assert layout.dataset_format(parquet_dir) == layout.PARQUET
    assert reader.available_splits(parquet_dir) == ["train", "test"]
    frame = reader.read_split(parquet_dir, "train")
    assert list(frame.columns) == [FILE_NAME, *COLUMN_NAMES, reader.IMAGE_PATH]
    assert {n: str(frame[n].dtype) for n in COLUMNS} == COLUMNS
    assert frame["product_code"].tolist() == [100, 101, 102, 103, 104]
    assert frame[FILE_NAME].tolist() == [f"{c}.jpg" for c in range(100, 105)]
    ref = frame[reader.IMAGE_PATH][3]
    assert ref == f"{parquet_dir / 'data' / 'train-00001-of-00002.parquet'}#0"
    assert reader.image_bytes(ref) == _jpeg(103)
    assert reader.load_image(ref).size == (16, 16) and reader.load_image(ref).mode == "RGB"
    with pytest.raises(UserError, match="no 'validation' split.*train, test"):
        reader.read_split(parquet_dir, "validation")


def test_missing_or_stray_data_files_are_named(parquet_dir):
    (parquet_dir / layout.data_file("train", 1, 2)).unlink()
    with pytest.raises(UserError, match=r"lacks data/train-00001-of-00002\.parquet"):
        reader.read_split(parquet_dir, "train")
    _data_file(parquet_dir, "train", 1, 2, [103])
    _data_file(parquet_dir, "train", 2, 3, [106])
    with pytest.raises(UserError, match=r"train-00002-of-00003\.parquet does not belong"):
        reader.read_split(parquet_dir, "train")


def test_bad_columns_and_unreadable_images_are_user_errors(parquet_dir, tmp_path):
    path = parquet_dir / layout.data_file("test", 0, 1)
    table = pq.read_table(path)
    pq.write_table(table.drop_columns(["brand"]), path)
    with pytest.raises(UserError, match="lacks column.*brand"):
        reader.read_split(parquet_dir, "test")
    with pytest.raises(UserError, match="has no row 7"):
        reader.image_bytes(f"{parquet_dir / layout.data_file('train', 0, 2)}#7")
    with pytest.raises(UserError, match="is missing"):
        reader.load_image(f"{tmp_path / 'gone.parquet'}#0")
    broken = tmp_path / "broken"
    writer = RowGroupWriter(broken, layout.data_file("train", 0, 1), hub.data_schema(), 2, {})
    writer.add(((b"not a jpeg", "1.jpg"), *_row(1)))
    writer.close()
    with pytest.raises(UserError, match="cannot read image"):
        reader.load_image(reader.read_split(broken, "train")[reader.IMAGE_PATH][0])
    assert reader.image_source(f"{tmp_path / 'gone.parquet'}#0") is None
    assert reader.image_source(None) is None


def test_a_rewritten_file_is_read_afresh(parquet_dir):
    """The image cache notices a data file written again at the same path."""
    ref = reader.read_split(parquet_dir, "test")[reader.IMAGE_PATH][0]
    before = np.asarray(reader.load_image(ref))
    fingerprint = layout.dataset_fingerprint(parquet_dir)
    _data_file(parquet_dir, "test", 0, 1, [150])
    assert not np.array_equal(np.asarray(reader.load_image(ref)), before)
    assert layout.dataset_fingerprint(parquet_dir) != fingerprint


def test_writers_rename_only_complete_files_and_record_them(tmp_path):
    """Rows go to a temporary sibling; close renames it and returns rows, bytes and sha256; abort removes
    it; row groups hold at most group_rows rows."""
    writer = RowGroupWriter(tmp_path, "data/x-00000-of-00001.parquet", hub.data_schema(), 2, {})
    for code in range(5):
        writer.add(((_jpeg(code), f"{code}.jpg"), *_row(code)))
    assert not writer.path.exists() and len(list((tmp_path / "data").iterdir())) == 1
    record = writer.close()
    data = writer.path.read_bytes()
    assert record == {
        "path": "data/x-00000-of-00001.parquet",
        "rows": 5,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert [pq.ParquetFile(writer.path).metadata.row_group(g).num_rows for g in range(3)] == [2, 2, 1]
    lines = LinesWriter(tmp_path, "latents/a.jsonl")
    lines.add('{"product_code": 1}')
    lines.abort()
    assert list((tmp_path / "latents").iterdir()) == []
