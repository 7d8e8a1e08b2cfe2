"""The 17 columns of the DBQ product-price datasets, defined once and imported everywhere."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# Column name -> dtype, in the order of the DBQ parquet files.
COLUMNS: dict[str, str] = {
    "website_name": "string",
    "competence_date": "string",
    "country_code": "string",
    "currency_code": "string",
    "brand": "string",
    "category1_code": "string",
    "category2_code": "string",
    "category3_code": "string",
    "product_code": "int64",
    "title": "string",
    "itemurl": "string",
    "imageurl": "string",
    "full_price": "float64",
    "price": "float64",
    "full_price_eur": "float64",
    "price_eur": "float64",
    "flg_discount": "int64",
}
COLUMN_NAMES: tuple[str, ...] = tuple(COLUMNS)

# The metadata file of a DATASET dir holds this column first, then COLUMN_NAMES.
FILE_NAME = "file_name"

# The placeholder the real data uses where a value (an image URL, a subcategory) is missing.
NOT_AVAILABLE = "N.A."

_PY_TYPES = {"string": (str,), "int64": (int,), "float64": (float, int)}


def missing_columns(columns: Iterable[str]) -> list[str]:
    """Names of the DBQ columns absent from ``columns``, in schema order."""
    present = set(columns)
    return [c for c in COLUMN_NAMES if c not in present]


def row_problems(row: Mapping[str, object]) -> list[str]:
    """Describe every way ``row`` breaks the schema (missing column or wrong type); empty when valid."""
    problems = [f"missing column {c!r}" for c in missing_columns(row)]
    for name, dtype in COLUMNS.items():
        if name not in row:
            continue
        value = row[name]
        if isinstance(value, bool) or not isinstance(value, _PY_TYPES[dtype]):
            problems.append(f"column {name!r} should be {dtype}, got {type(value).__name__} {value!r}")
    return problems


def coerce_row(row: Mapping[str, object]) -> dict[str, object]:
    """Return the 17 columns of ``row`` in schema order with Python types matching the dtypes.

    Floats stay floats even when whole (``1290.0``): a JSON column of whole numbers would otherwise be
    read back as int64.
    """
    out: dict[str, object] = {}
    for name, dtype in COLUMNS.items():
        value = row[name]
        if dtype == "string":
            out[name] = str(value)
        elif dtype == "int64":
            out[name] = int(value)  # type: ignore[arg-type]
        else:
            out[name] = float(value)  # type: ignore[arg-type]
    return out
