"""The schema module: the 17 DBQ columns and row validation."""

from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, coerce_row, row_problems


def _row():
    return {
        "website_name": "Burberry",
        "competence_date": "2023-11-17",
        "country_code": "USA",
        "currency_code": "USD",
        "brand": "BURBERRY",
        "category1_code": "WOMAN",
        "category2_code": "OUTERWEAR",
        "category3_code": "TRENCH COATS",
        "product_code": 80123456,
        "title": "Long Kensington Heritage Trench Coat",
        "itemurl": "https://us.burberry.com/long-kensington-heritage-trench-coat-p80123456",
        "imageurl": "https://assets.burberry.com/is/image/Burberryltd/0b3c",
        "full_price": 2490,
        "price": 2490.0,
        "full_price_eur": 2297.03,
        "price_eur": 2297.03,
        "flg_discount": 0,
    }


def test_seventeen_columns_with_dbq_dtypes():
    """The schema has exactly the 17 DBQ columns, product_code and flg_discount integral, prices float."""
    assert len(COLUMNS) == 17 and len(COLUMN_NAMES) == 17
    assert COLUMNS["product_code"] == "int64" and COLUMNS["flg_discount"] == "int64"
    assert all(COLUMNS[c] == "float64" for c in ("full_price", "price", "full_price_eur", "price_eur"))


def test_row_problems_names_missing_and_mistyped_columns():
    """A valid row has no problems; a missing or mistyped column is named."""
    row = _row()
    assert row_problems(row) == []
    del row["brand"]
    row["product_code"] = "x"
    problems = row_problems(row)
    assert any("brand" in p for p in problems) and any("product_code" in p for p in problems)


def test_coerce_row_keeps_whole_prices_float():
    """Whole prices come out as floats so JSON keeps them float64."""
    out = coerce_row(_row())
    assert list(out) == list(COLUMN_NAMES)
    assert isinstance(out["full_price"], float) and out["full_price"] == 2490.0
