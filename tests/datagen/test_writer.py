"""DatasetWriter: metadata layout, atomic swap, refusals."""

import json

import pyarrow.parquet as pq
import pytest

from contracts.dataset import layout
from contracts.dataset.schema import COLUMN_NAMES, FILE_NAME
from contracts.dataset.writer import DatasetWriter
from contracts.errors import UserError


def test_layout_metadata_sorted_with_file_name_first(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """Each split has its images and a metadata.jsonl sorted by product_code, file_name first, floats kept."""
    out = tmp_path / "data"
    with DatasetWriter(out) as w:
        for code in (40000003, 40000001, 40000002):
            w.add("train", make_row(code), jpeg_bytes())
        w.add("test", make_row(40000009), jpeg_bytes())
        w.add_sidecar_record(layout.LATENTS_FILE, 40000002, {"product_code": 40000002, "x": 1})
        w.add_sidecar_record(layout.LATENTS_FILE, 40000001, {"product_code": 40000001, "x": 2})
        w.add_extra_file("notes.txt", b"hi")
        w.finish({"rows": 4}, "# card\n")
    table = pq.read_table(out / "train" / layout.METADATA_FILE)
    assert table.column("product_code").to_pylist() == [40000001, 40000002, 40000003]
    assert table.column_names == [FILE_NAME, *COLUMN_NAMES]
    assert table.column(FILE_NAME).to_pylist()[0] == "40000001.jpg"
    assert str(table.schema.field("full_price").type) == "double"
    assert str(table.schema.field("competence_date").type) == "string"
    assert (out / "train" / "40000001.jpg").is_file() and (out / "test" / "40000009.jpg").is_file()
    assert not (out / "validation").exists()  # empty split: no folder
    latents = [json.loads(x)["product_code"] for x in (out / layout.LATENTS_FILE).read_text().splitlines()]
    assert latents == [40000001, 40000002]
    assert json.loads((out / layout.INFO_FILE).read_text()) == {"rows": 4}
    assert (out / layout.CARD_FILE).read_text() == "# card\n" and (out / "notes.txt").read_bytes() == b"hi"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temp dir left


def test_exception_mid_write_leaves_nothing(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """An exception inside the with block removes the temp dir and creates no output."""
    out = tmp_path / "data"
    with pytest.raises(RuntimeError), DatasetWriter(out) as w:
        w.add("train", make_row(), jpeg_bytes())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_interrupt_keeps_previous_dataset(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """Ctrl-C during an overwrite leaves the old dataset untouched."""
    out = write_small_dataset(tmp_path / "data")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(KeyboardInterrupt), DatasetWriter(out, overwrite=True) as w:
        w.add("train", make_row(55555555), jpeg_bytes())
        raise KeyboardInterrupt
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_overwrite_replaces_whole_dir(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """--overwrite swaps in the new dataset; nothing of the old one survives, no temporary is left."""
    out = write_small_dataset(tmp_path / "data", n=12)
    old_images = {p.name for p in (out / "train").glob("*.jpg")}
    write_small_dataset(out, n=4, overwrite=True)
    assert pq.read_table(out / "train" / layout.METADATA_FILE).num_rows == 2
    assert len({p.name for p in (out / "train").glob("*.jpg")}) == 2 < len(old_images)
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_overwrite_never_deletes_files_the_project_did_not_write(tmp_path, write_small_dataset):
    """A file of the user's inside a dataset, or a dir that is no dataset of ours: refused, kept."""
    out = write_small_dataset(tmp_path / "data", n=12)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="'notes.txt'.*did not write"):
        write_small_dataset(out, n=4, overwrite=True)
    (out / "train" / "mine.png").write_bytes(b"x")
    (out / "notes.txt").unlink()
    with pytest.raises(UserError, match="'train/mine.png'"):
        write_small_dataset(out, n=4, overwrite=True)
    assert (out / "train" / "mine.png").read_bytes() == b"x"
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a DATASET dir written by this project"):
        DatasetWriter(tmp_path / "home", overwrite=True)
    assert (tmp_path / "home" / "notes.txt").read_text() == "mine"


def test_overwrite_recognises_a_dataset_by_what_only_this_project_writes(tmp_path):
    """A folder whose dataset_info.json another tool wrote is not a DATASET of ours: --overwrite leaves it
    whole, however much its file names look like ours."""
    out = tmp_path / "theirs"
    out.mkdir()
    (out / layout.CARD_FILE).write_text("# my notes")
    (out / layout.INFO_FILE).write_text('{"generator": "other"}')
    with pytest.raises(UserError, match="not a DATASET dir written by this project"):
        DatasetWriter(out, overwrite=True)
    (out / layout.INFO_FILE).write_text('{"generator": "datagen synth"}')  # no version: not ours either
    with pytest.raises(UserError, match="not a DATASET dir written by this project"):
        DatasetWriter(out, overwrite=True)
    assert (out / layout.CARD_FILE).read_text() == "# my notes"
    assert sorted(p.name for p in out.iterdir()) == [layout.CARD_FILE, layout.INFO_FILE]


def test_refuses_non_empty_out_without_overwrite(tmp_path, write_small_dataset):
    """A dir holding a dataset of ours is refused without --overwrite, with the fix in one line."""
    write_small_dataset(tmp_path / "data", n=4)
    with pytest.raises(UserError, match="pass --overwrite") as info:
        DatasetWriter(tmp_path / "data")
    assert "\n" not in str(info.value)


def test_empty_existing_dir_is_fine(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """An existing empty dir is used without --overwrite."""
    (tmp_path / "data").mkdir()
    write_small_dataset(tmp_path / "data", n=3)
    assert (tmp_path / "data" / "train").is_dir()


def test_refuses_unwritable_parent(tmp_path):
    """A parent that is a file (so cannot hold the dir) is refused."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="choose another --out"):
        DatasetWriter(tmp_path / "file" / "data")
    with pytest.raises(UserError, match="is a file"):
        DatasetWriter(tmp_path / "file")


def test_bad_row_and_duplicate_code_are_user_errors(tmp_path, make_row, jpeg_bytes, write_small_dataset):
    """A row breaking the schema names the column; a repeated product code is refused."""
    with DatasetWriter(tmp_path / "data") as w:
        with pytest.raises(UserError, match="full_price"):
            w.add("train", make_row(full_price="12"), jpeg_bytes())
        w.add("train", make_row(1), jpeg_bytes())
        with pytest.raises(UserError, match="twice"):
            w.add("test", make_row(1), jpeg_bytes())
    assert not (tmp_path / "data").exists()  # never finished
