"""Checking an imported table's rows: each value coerced to the schema's type, and the rows an import cannot
use (wrong values, prices not above zero, repeated codes, no image URL) set aside with their reason."""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections import Counter
from dataclasses import dataclass

from contracts.dataset.schema import COLUMN_NAMES, COLUMNS, NOT_AVAILABLE, missing_columns
from contracts.errors import UserError

PRICE_COLUMNS = ("full_price", "price", "full_price_eur", "price_eur")


# -- checking rows -------------------------------------------------------------------------------------------
def _is_missing(value: object) -> bool:
    return (
        value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType"
    )


def _coerce_value(value: object, dtype: str) -> object:
    """``value`` as the schema's Python type, or raise ValueError saying why it cannot be."""
    if dtype == "string":
        if isinstance(value, str):
            return value
        if _is_missing(value):
            return NOT_AVAILABLE  # the DBQ data's own placeholder for a missing value
        if isinstance(value, dt.datetime) and value.time() == dt.time(0):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, numbers.Number) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"should be a string, got {type(value).__name__} {value!r}")
    if _is_missing(value):
        raise ValueError(f"should be {dtype}, got an empty value")
    if isinstance(value, bool):
        raise ValueError(f"should be {dtype}, got bool {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float = int(text) if dtype == "int64" else float(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"should be {dtype}, got text {value!r}") from None
        value = number
    if not isinstance(value, numbers.Real):
        raise ValueError(f"should be {dtype}, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"should be a finite {dtype}, got {value!r}")
    if dtype == "int64":
        if float(value) != int(value):
            raise ValueError(f"should be a whole number (int64), got {value!r}")
        return int(value)
    return float(value)


def _json_safe(value: object) -> object:
    if _is_missing(value):
        return None
    if isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


@dataclass
class CheckedRows:
    """Rows split into those worth fetching an image for and those already left out."""

    rows: list[tuple[int, dict, dict]]  # (input index, the 17 columns coerced, extra columns)
    failures: list[dict]
    extra_columns: list[str]


def failure_record(index: int, raw: dict, reason: str, detail: str) -> dict:
    return {
        "row": index,
        "product_code": _json_safe(raw.get("product_code")),
        "title": _json_safe(raw.get("title")),
        "imageurl": _json_safe(raw.get("imageurl")),
        "reason": reason,
        "detail": detail,
    }


def coerce_rows(records: list[dict]) -> CheckedRows:
    """Coerce every row to the schema's types; rows with a value that does not fit are failures.

    Rules: a missing column is an error for the whole table; so is a mistyped column (none of its values fits
    its dtype). A row with a value that does not fit is left out (``invalid_value``); a missing string value
    becomes ``N.A.``, the DBQ data's placeholder.

    Raises:
        UserError: the table is empty, lacks columns, or has a mistyped column.
    """
    if not records:
        raise UserError("the table has no rows: nothing to import")
    columns = list(dict.fromkeys(c for r in records for c in r))
    missing = missing_columns(columns)
    if missing:
        raise UserError(
            f"the table lacks column(s) {', '.join(missing)}: a DBQ table needs all 17 columns "
            f"({', '.join(COLUMN_NAMES)})"
        )
    extra = [c for c in columns if c not in COLUMNS]

    kept: list[tuple[int, dict, dict]] = []
    failures: list[dict] = []
    bad_per_column: Counter[str] = Counter()
    first_bad: dict[str, str] = {}
    for index, raw in enumerate(records):
        row, problems = {}, []
        for name, dtype in COLUMNS.items():
            try:
                row[name] = _coerce_value(raw.get(name), dtype)
            except ValueError as exc:
                problems.append(f"column {name!r} {exc}")
                bad_per_column[name] += 1
                first_bad.setdefault(name, str(exc))
        if problems:
            failures.append(failure_record(index, raw, "invalid_value", "; ".join(problems)))
        else:
            kept.append((index, row, {c: _json_safe(raw.get(c)) for c in extra}))
    mistyped = [c for c in COLUMN_NAMES if bad_per_column[c] == len(records)]
    if mistyped:
        details = "; ".join(f"{c!r} {first_bad[c]}" for c in mistyped)
        raise UserError(f"mistyped column(s): {details}: fix the table's types (see datagen/schema.py)")
    return CheckedRows(rows=kept, failures=failures, extra_columns=extra)


def check_rows(records: list[dict]) -> CheckedRows:
    """``coerce_rows``, then leave out the rows an import cannot use.

    A repeated product code keeps its first row (``duplicate_product_code``); a row whose price is zero or
    negative (``invalid_price``) or whose imageurl is not an http(s) URL, such as ``N.A.``
    (``no_image_url``), is left out.

    Raises:
        UserError: as ``coerce_rows``.
    """
    checked = coerce_rows(records)
    kept: list[tuple[int, dict, dict]] = []
    failures = list(checked.failures)
    seen: set[int] = set()
    for index, row, extra in checked.rows:
        code = int(row["product_code"])
        url = str(row["imageurl"]).strip()
        if code in seen:
            failures.append(
                failure_record(index, row, "duplicate_product_code", f"product_code {code} seen before")
            )
        elif not all(row[c] > 0 for c in PRICE_COLUMNS):
            prices = ", ".join(f"{c} {row[c]!r}" for c in PRICE_COLUMNS if not row[c] > 0)
            failures.append(
                failure_record(index, row, "invalid_price", f"{prices}: a price must be positive")
            )
        elif not url.lower().startswith(("http://", "https://")):
            failures.append(
                failure_record(index, row, "no_image_url", f"imageurl {url!r} is not an http(s) URL")
            )
        else:
            kept.append((index, row, extra))
        seen.add(code)
    failures.sort(key=lambda f: f["row"])
    return CheckedRows(rows=kept, failures=failures, extra_columns=checked.extra_columns)
