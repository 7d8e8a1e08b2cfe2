"""What a fitted profile remembers of its source: digests of its titles and the rows the fit held out.

``source_titles`` lets synthesis refuse a source title without the profile holding any title in clear;
``holdout`` lets `datagen compare` find the rows the fit never saw. Both are optional keys of the profile
format (``datagen.catalogue.profile``), checked here so the format module stays about the catalogue.
"""

from __future__ import annotations

import hashlib

from contracts.errors import UserError

DIGEST_CHARS = 16  # hex digits of a source-title digest: 64 bits, no chance collision in any catalogue


def title_key(title: str) -> str:
    """A title as copies are judged: case folded, runs of spaces as one ("Check  wool" == "check Wool")."""
    return " ".join(str(title).casefold().split())


def title_digest(title: str, salt: str) -> str:
    """The salted sha256 of ``title_key(title)``, 16 hex digits: a profile can refuse a source title without
    holding it in clear (anyone with the profile can still test a title they guess)."""
    return hashlib.sha256(f"{salt}\x00{title_key(title)}".encode()).hexdigest()[:DIGEST_CHARS]


def require(cond: bool, source: str, where: str, msg: str) -> None:
    if not cond:
        raise UserError(f"{source}: {where} {msg}")


def typed_value(value: object, kind: object, source: str, where: str) -> object:
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        require(ok, source, where, f"must be a number, got {value!r}")
        return float(value)  # type: ignore[arg-type]
    if kind is int:
        require(
            isinstance(value, int) and not isinstance(value, bool),
            source,
            where,
            f"must be an integer, got {value!r}",
        )
        return value
    if kind is str:
        require(isinstance(value, str), source, where, f"must be a string, got {value!r}")
        return value
    if kind is list:
        require(isinstance(value, list) and len(value) > 0, source, where, "must be a non-empty list")
        return value
    allowed = tuple(kind)  # type: ignore[arg-type]
    require(value in allowed, source, where, f"must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_source_titles(value: object, source: str) -> dict | None:
    if value is None:
        return None
    where = "source_titles"
    require(isinstance(value, dict), source, where, "must be an object {salt, digests, exclude}")
    salt = typed_value(value.get("salt"), str, source, f"{where}.salt")  # type: ignore[union-attr]
    digests = value.get("digests")  # type: ignore[union-attr]
    ok = isinstance(digests, list) and all(
        isinstance(d, str) and len(d) == DIGEST_CHARS and all(c in "0123456789abcdef" for c in d)
        for d in digests
    )
    require(ok, source, f"{where}.digests", f"must be a list of {DIGEST_CHARS}-digit lower-case hex strings")
    exclude = value.get("exclude", False)  # type: ignore[union-attr]
    require(isinstance(exclude, bool), source, f"{where}.exclude", "must be true or false")
    return {"salt": salt, "digests": digests, "exclude": exclude}


def check_holdout(value: object, source: str) -> dict | None:
    if value is None:
        return None
    where = "holdout"
    require(isinstance(value, dict), source, where, "must be an object")
    out = dict(value)  # type: ignore[call-overload]
    fraction = typed_value(out.get("fraction"), float, source, f"{where}.fraction")
    require(0 < fraction < 1, source, f"{where}.fraction", "must be between 0 and 1")  # type: ignore[operator]
    out["fraction"] = fraction
    codes = out.get("product_codes")
    ok = isinstance(codes, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in codes)
    require(ok, source, f"{where}.product_codes", "must be a list of integer product codes")
    for key in ("fit_rows", "seed"):
        typed_value(out.get(key), int, source, f"{where}.{key}")
    for key in ("fit_codes_sha256", "source"):
        typed_value(out.get(key), str, source, f"{where}.{key}")
    return out
