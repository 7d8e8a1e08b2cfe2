"""`datagen real` as a function: schema checks, failures with reasons, cache reuse, the same dir as synth."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from contracts.dataset import layout
from contracts.dataset.reader import read_dataset, read_info
from contracts.dataset.schema import COLUMNS
from contracts.dataset.split import assign_splits
from contracts.errors import UserError
from datagen.config import ImportConfig
from datagen.real.importer import run_import
from datagen.real.rows import check_rows
from tests.datagen.fixtures_real import (
    EXPECTED_FAILURES,
    EXPECTED_IMPORTED,
    dbq_row,
    fixture_rows,
    image_server,
    jpeg_bytes,
)


@pytest.fixture
def server():
    with image_server(slow_s=0.5) as srv:
        yield srv


def _write(rows: list[dict], path, fmt: str):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def _config(tmp_path, source, **kwargs) -> ImportConfig:
    fast = {"timeout": 0.2, "retries": 1, "backoff": 0.001, "workers": 4, "quiet": True}
    return ImportConfig(
        out=str(tmp_path / "out"),
        from_file=str(source),
        cache_dir=str(tmp_path / "cache"),
        **{**fast, **kwargs},
    )


def _rows_by_code(out) -> dict[int, dict]:
    frames = read_dataset(out)
    return {int(r["product_code"]): r for df in frames.values() for r in df.to_dict("records")}


def test_import_keeps_good_rows_and_lists_every_failure(server, tmp_path):
    """Good rows land in the dataset with their images; each bad row is in failures.jsonl with its reason."""
    rows = fixture_rows(server)
    rows[0]["shop_note"] = "kept aside"
    result = run_import(_config(tmp_path, _write(rows, tmp_path / "t.jsonl", "jsonl")))

    assert result.rows_read == len(rows) and result.imported == EXPECTED_IMPORTED
    assert result.failed_by_reason == EXPECTED_FAILURES
    failures = [json.loads(line) for line in (result.out / layout.FAILURES_FILE).read_text().splitlines()]
    assert sorted(f["reason"] for f in failures) == sorted(EXPECTED_FAILURES)
    assert all(f["detail"] for f in failures)
    assert {f["product_code"] for f in failures if f["reason"] == "no_image_url"} == {26_000_200}

    imported = _rows_by_code(result.out)
    assert len(imported) == EXPECTED_IMPORTED
    for row in rows[:EXPECTED_IMPORTED]:
        got = imported[row["product_code"]]
        # Titles with commas, quotes and non-ASCII letters, local categories and currencies survive as is.
        for column in ("title", "category2_code", "category3_code", "currency_code", "country_code"):
            assert got[column] == row[column]
        assert got["full_price"] == row["full_price"]
        assert got["file_name"] == layout.image_name(row["product_code"])
    first = imported[26_000_000]
    assert open(first["image_path"], "rb").read() == jpeg_bytes("p0")  # JPEGs are kept byte for byte
    with Image.open(imported[26_000_100]["image_path"]) as png:  # a PNG becomes a JPEG
        assert png.format == "JPEG" and png.mode == "RGB"

    extra = [json.loads(line) for line in (result.out / layout.EXTRA_COLUMNS_FILE).read_text().splitlines()]
    assert {e["product_code"]: e["shop_note"] for e in extra}[26_000_000] == "kept aside"
    info = read_info(result.out)
    assert info["failed_by_reason"] == EXPECTED_FAILURES and info["extra_columns"] == ["shop_note"]
    card = (result.out / layout.CARD_FILE).read_text()
    assert "t.jsonl" in card and "failures.jsonl" in card


def test_second_run_downloads_nothing_and_writes_the_same_bytes(server, tmp_path):
    """A rerun reads every good image from the cache (no request) and writes an identical dataset."""
    source = _write(fixture_rows(server), tmp_path / "t.jsonl", "jsonl")
    first = run_import(_config(tmp_path, source))
    assert first.downloaded == EXPECTED_IMPORTED
    metadata = {s: (first.out / s / layout.METADATA_FILE).read_bytes() for s in layout.SPLITS}
    extra_files = {n: (first.out / n).read_bytes() for n in (layout.FAILURES_FILE, layout.INFO_FILE)}
    before = dict(server.requests)

    second = run_import(_config(tmp_path, source, overwrite=True))
    assert second.downloaded == 0 and second.cache_hits == EXPECTED_IMPORTED
    good_paths = [p for p in server.requests if p.split("/")[1] in ("ok", "png", "flaky")]
    assert all(server.requests[p] == before[p] for p in good_paths)
    assert {s: (second.out / s / layout.METADATA_FILE).read_bytes() for s in layout.SPLITS} == metadata
    assert {n: (second.out / n).read_bytes() for n in extra_files} == extra_files


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_import_like_jsonl(server, tmp_path, fmt):
    """The same rows as CSV (text cells) or parquet give the same metadata as JSONL."""
    rows = fixture_rows(server)
    want = run_import(_config(tmp_path, _write(rows, tmp_path / "t.jsonl", "jsonl")))
    meta = {s: (want.out / s / layout.METADATA_FILE).read_bytes() for s in layout.SPLITS}
    got = run_import(_config(tmp_path, _write(rows, tmp_path / f"t.{fmt}", fmt), overwrite=True))
    assert {s: (got.out / s / layout.METADATA_FILE).read_bytes() for s in layout.SPLITS} == meta


def test_splits_come_from_the_shared_split_function(server, tmp_path):
    """Each row's split is what assign_splits gives for (product_code, category3_code) and the seed."""
    rows = [
        dbq_row(30_000_000 + i, ["USA", "FRA", "ITA"][i % 3], server.url("ok", f"s{i}"), f"Title {i}")
        for i in range(30)
    ]
    result = run_import(_config(tmp_path, _write(rows, tmp_path / "t.jsonl", "jsonl"), seed=3))
    frames = read_dataset(result.out)
    got = {int(r["product_code"]): s for s, df in frames.items() for r in df.to_dict("records")}
    want = assign_splits([r["product_code"] for r in rows], [r["category3_code"] for r in rows], seed=3)
    assert got == {r["product_code"]: s for r, s in zip(rows, want, strict=True)}


def test_missing_columns_are_named(tmp_path):
    """A table without some DBQ columns is refused with their names."""
    row = dbq_row(1, "USA", "N.A.", "T")
    del row["brand"], row["flg_discount"]
    with pytest.raises(UserError, match="brand, flg_discount"):
        check_rows([row])


def test_mistyped_column_is_named_and_coercible_values_are_coerced():
    """Whole floats and numeric text become int64/float64; a column of words instead of prices is refused."""
    row = dbq_row(1, "USA", "http://x/a", "T")
    row.update(product_code=26000001.0, flg_discount="0", full_price="1290", competence_date=None)
    checked = check_rows([row])
    coerced = checked.rows[0][1]
    assert coerced["product_code"] == 26000001 and isinstance(coerced["product_code"], int)
    assert coerced["flg_discount"] == 0 and coerced["full_price"] == 1290.0
    assert coerced["competence_date"] == "N.A."
    bad = [dict(row, full_price="cheap"), dict(row, product_code=2, full_price="dear")]
    with pytest.raises(UserError, match="mistyped column.*'full_price'"):
        check_rows(bad)


def test_one_bad_value_leaves_out_its_row_only():
    """A row whose price is not a number is listed as invalid_value; the others go on."""
    rows = [
        dbq_row(1, "USA", "http://x/a", "A"),
        dict(dbq_row(2, "USA", "http://x/b", "B"), full_price="n/a"),
    ]
    checked = check_rows(rows)
    assert [r[1]["product_code"] for r in checked.rows] == [1]
    assert checked.failures[0]["reason"] == "invalid_value" and "full_price" in checked.failures[0]["detail"]


def test_occupied_out_dir_is_refused_before_any_download(server, tmp_path):
    """An occupied --out without --overwrite is a UserError, and no image is requested."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    source = _write(fixture_rows(server), tmp_path / "t.jsonl", "jsonl")
    with pytest.raises(UserError, match="not a DATASET dir written by this project"):
        run_import(_config(tmp_path, source))
    assert server.total == 0 and (tmp_path / "out" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("content", "name", "match"),
    [(None, "absent.parquet", "no such file"), (b"PAR1 not really", "bad.parquet", "cannot read")],
)
def test_unreadable_file_is_one_user_error(tmp_path, content, name, match):
    """A missing or corrupt --from file gives a UserError naming it."""
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=match):
        run_import(_config(tmp_path, path))


def test_unknown_hub_dataset_offline_is_one_user_error(tmp_path, monkeypatch):
    """An unknown hub id (the tests run offline) is a UserError that suggests --from."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ImportConfig(out=str(tmp_path / "out"), dataset="no-such-owner/no-such-dataset", quiet=True)
    with pytest.raises(UserError, match="no-such-owner/no-such-dataset.*--from FILE") as exc:
        run_import(cfg)
    assert "\n" not in str(exc.value)


def test_imported_dir_loads_as_imagefolder(server, tmp_path):
    """`load_dataset("imagefolder", data_dir=DIR)` and `load_dataset(DIR)` load the imported dir alike."""
    import datasets

    result = run_import(_config(tmp_path, _write(fixture_rows(server), tmp_path / "t.jsonl", "jsonl")))
    ds = datasets.load_dataset("imagefolder", data_dir=str(result.out))
    assert sum(len(ds[s]) for s in ds) == EXPECTED_IMPORTED
    assert "title" in ds["train"].column_names and ds["train"][0]["image"].size == (24, 24)
    by_card = datasets.load_dataset(str(result.out))  # through the card's YAML header
    assert {s: len(by_card[s]) for s in by_card} == {s: len(ds[s]) for s in ds}
    features = by_card["train"].features  # the card declares them, as a synthetic card does
    assert isinstance(features["image"], datasets.Image)
    assert {name: features[name].dtype for name in COLUMNS} == dict(COLUMNS)


def test_prices_of_zero_or_below_are_left_out_with_their_reason(server, tmp_path):
    """A row whose price is zero or negative is listed in failures.jsonl (invalid_price), like others."""
    rows = fixture_rows(server)[:3]
    rows[1] = {**rows[1], "full_price": -5.0, "price": -5.0}
    rows[2] = {**rows[2], "price": 0.0}
    result = run_import(_config(tmp_path, _write(rows, tmp_path / "t.jsonl", "jsonl")))
    assert result.imported == 1 and result.failed_by_reason == {"invalid_price": 2}
    failures = [json.loads(line) for line in (result.out / layout.FAILURES_FILE).read_text().splitlines()]
    assert [f["reason"] for f in failures] == ["invalid_price"] * 2
    assert "full_price -5.0" in failures[0]["detail"] and "price 0.0" in failures[1]["detail"]


def test_an_import_of_no_row_fails_with_the_count_and_the_reasons_file(server, tmp_path):
    """Every image failing (offline, a blocking server): non-zero exit, the count, where the reasons are."""
    rows = [dbq_row(26_000_000 + i, "USA", server.url("missing", f"p{i}"), "Bag", 100.0) for i in range(3)]
    with pytest.raises(UserError, match=r"imported 0 of 3 rows.*http_404 3.*failures\.jsonl"):
        run_import(_config(tmp_path, _write(rows, tmp_path / "t.jsonl", "jsonl")))
    assert len((tmp_path / "out" / layout.FAILURES_FILE).read_text().splitlines()) == 3
