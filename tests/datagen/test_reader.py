"""The reader: frames with schema dtypes, and one clear error per user-caused problem."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from contracts.dataset import layout, reader
from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, FILE_NAME
from contracts.errors import UserError


def test_read_dataset_frames_have_schema_dtypes(small_dataset):
    """Each split: file_name, the 17 columns with schema dtypes, and an absolute image_path that opens."""
    data = reader.read_dataset(small_dataset)
    assert list(data) == list(layout.SPLITS)
    frame = data["train"]
    assert list(frame.columns) == [FILE_NAME, *COLUMN_NAMES, reader.IMAGE_PATH]
    for name, dtype in COLUMNS.items():
        assert str(frame[name].dtype) == dtype, name
    assert len(frame) == 10 and frame["product_code"].is_monotonic_increasing
    img = reader.load_image(frame[reader.IMAGE_PATH].iloc[0])
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    assert reader.read_info(small_dataset)["rows"] == 12
    assert reader.read_latents(small_dataset) is None


def test_missing_dir_names_the_fix(tmp_path):
    """A missing dataset dir says how to make one."""
    with pytest.raises(UserError, match="datagen synth --out"):
        reader.read_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a DATASET dir"):
        reader.read_dataset(tmp_path / "empty")


def test_missing_and_unknown_split(small_dataset):
    """Asking for an absent or unknown split names it and the splits present."""
    (small_dataset / "test" / layout.METADATA_FILE).unlink()
    with pytest.raises(UserError, match="no 'test' split.*train, validation"):
        reader.read_split(small_dataset, "test")
    with pytest.raises(UserError, match="unknown split"):
        reader.read_split(small_dataset, "dev")
    assert list(reader.read_dataset(small_dataset)) == ["train", "validation"]


def _rewrite_first(meta, **changes):
    frame = pq.read_table(meta).to_pandas()
    for k, v in changes.items():
        if v is None:
            del frame[k]
        elif isinstance(v, str) and k != FILE_NAME:
            frame[k] = frame[k].astype(str)
        elif isinstance(v, float) and k == "product_code":
            frame[k] = frame[k].astype(float) + v
        else:
            frame.loc[0, k] = v
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), meta)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"brand": None}, "lacks column.*brand"),
        ({"full_price": "1290"}, "'full_price' should be float64"),
        ({"product_code": 1.5}, "'product_code' should be int64"),
        ({FILE_NAME: "../validation/x.jpg"}, "outside"),
        ({FILE_NAME: "/etc/passwd"}, "outside"),
        ({FILE_NAME: "99.jpg"}, "missing"),
    ],
)
def test_bad_metadata_is_named(small_dataset, changes, match):
    """A missing/mistyped column or a file_name escaping its folder is a UserError naming it."""
    _rewrite_first(small_dataset / "train" / layout.METADATA_FILE, **changes)
    with pytest.raises(UserError, match=match):
        reader.read_split(small_dataset, "train")


def test_invalid_json_and_unreadable_image(small_dataset):
    """Broken JSON and a corrupt image are user errors with a fix."""
    frame = reader.read_split(small_dataset, "train")
    path = frame[reader.IMAGE_PATH].iloc[0]
    with open(path, "wb") as fh:
        fh.write(b"not a jpeg")
    with pytest.raises(UserError, match="cannot read image"):
        reader.load_image(path)
    with pytest.raises(UserError, match="missing"):
        reader.load_image(small_dataset / "nothing.jpg")
    meta = small_dataset / "validation" / layout.METADATA_FILE
    meta.write_bytes(b"oops")
    with pytest.raises(UserError, match="cannot read .*regenerate"):
        reader.read_split(small_dataset, "validation")
    (small_dataset / layout.INFO_FILE).unlink()
    with pytest.raises(UserError, match=layout.INFO_FILE):
        reader.read_info(small_dataset)
