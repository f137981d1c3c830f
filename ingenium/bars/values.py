"""Turning a column as read into checked Arrow values: times to UTC microseconds, prices to exact numbers.

All of it is vectorised (``pyarrow.compute``); only when a conversion fails is the first bad row searched
for, by halving, to name it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from ingenium.bars.errors import BarFileError
from ingenium.bars.files import Rows
from ingenium.errors import ConfigurationError

UTC_US = pa.timestamp("us", "UTC")
#: Exact numbers for the checks: 20 integer and 18 fractional digits cover every price and volume.
EXACT = pa.decimal128(38, 18)
#: A text time that ends in a zone (``Z``, ``+01:00``, ``-0500``) after its clock time.
_ZONED = r":\d\d(:\d\d)?(\.\d*)?\s*([Zz]|[+-]\d\d(:?\d\d)?)$"
_DIGITS = r"^\d+$"
#: Epoch magnitudes: seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
_EPOCH_LIMIT = 100_000_000_000


def zone_named(name: str) -> tzinfo:
    """The time zone ``name`` (``UTC``, ``America/New_York``) naive timestamps are read in."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {name!r}; use an IANA name such as America/New_York") from None


def first_true(mask: pa.Array | pa.ChunkedArray) -> int | None:
    """Index of the first true value of ``mask`` (nulls are not true), or ``None``."""
    index = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if index is None or index < 0 else int(index)


def first_failure(values: pa.Array | pa.ChunkedArray, convert: Callable[[Any], Any]) -> int:
    """Index of the first value ``convert`` refuses, found by halving: a few conversions of shrinking slices."""
    lo, hi = 0, len(values)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            convert(values[lo:mid])
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            hi = mid
        else:
            lo = mid
    return lo


def shown(values: pa.Array | pa.ChunkedArray, index: int) -> str:
    """One value as the file wrote it, for a message: text as is, a float by its shortest repr."""
    value = values[index].as_py()
    return repr(value) if isinstance(value, float) else str(value).strip()


def _fail(rows: Rows, index: int, column: str, problem: str) -> BarFileError:
    return BarFileError(rows.file, f"{column} {problem}", where=rows.label(index), line=rows.number(index),
                        column=column)


def _empty(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.or_kleene(pc.is_null(values), pc.equal(pc.utf8_trim_whitespace(values), ""))
    return pc.is_null(values)


def number_view(values: pa.ChunkedArray, column: str, rows: Rows) -> pa.ChunkedArray:
    """Exact numbers (``decimal128(38, 18)``) of a price or volume column, or float64 for a float column.

    Raises:
        BarFileError: naming the first row whose value is empty, not a number or not finite.

    """
    if values.null_count:
        raise _fail(rows, first_true(pc.is_null(values)) or 0, column, "is empty; give every bar a value")
    kind = values.type
    if pa.types.is_floating(kind):
        bad = first_true(pc.invert(pc.is_finite(values)))
        if bad is not None:
            raise _fail(rows, bad, column, f"{shown(values, bad)} is not a number; write a finite decimal")
        return values.cast(pa.float64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            return pc.cast(values, EXACT)  # the common case: clean decimal text
        except (pa.ArrowInvalid, OverflowError):
            pass
        empty = first_true(_empty(values))
        if empty is not None:
            raise _fail(rows, empty, column, "is empty; give every bar a value")
        text = pc.utf8_trim_whitespace(values)

        def convert(part: Any) -> Any:
            return pc.cast(part, EXACT)
    elif pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        text = values

        def convert(part: Any) -> Any:
            return pc.cast(part, EXACT)
    else:
        raise BarFileError(rows.file, f"column {column} holds {kind}; store numbers or decimal text", column=column)
    try:
        return pc.cast(text, EXACT)
    except (pa.ArrowInvalid, OverflowError):
        bad = first_failure(text, convert)
    raise _fail(rows, bad, column, f"{shown(values, bad)!r} is not a number with at most 20 digits before and 18 "
                                   "after the point; write a decimal such as 101.25")


def utc_times(values: pa.ChunkedArray, zone: str, rows: Rows) -> pa.ChunkedArray:
    """Bar starts as ``timestamp[us, UTC]``: ISO 8601 text (naive ones in ``zone``), epoch s/ms/µs/ns, dates.

    Raises:
        BarFileError: naming the first row whose timestamp is empty or cannot be read.

    """
    if values.null_count:
        raise _fail(rows, first_true(pc.is_null(values)) or 0, "timestamp", "is empty; give every bar its start time")
    kind = values.type
    if pa.types.is_timestamp(kind):
        return _utc(values if kind.tz is not None else _localised(values, zone))
    if pa.types.is_date(kind):
        return _utc(_localised(values.cast(pa.timestamp("us")), zone))
    if pa.types.is_integer(kind):
        return _epoch(values)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise BarFileError(rows.file, f"column timestamp holds {kind}; store ISO 8601 text, epoch numbers or "
                                      "timestamps", column="timestamp")
    try:
        return _utc(values.cast(pa.timestamp("ns", "UTC")))  # the common case: ISO 8601 with a zone
    except (pa.ArrowInvalid, OverflowError):
        pass
    empty = first_true(_empty(values))
    if empty is not None:
        raise _fail(rows, empty, "timestamp", "is empty; give every bar its start time")
    text = pc.utf8_trim_whitespace(values)
    digits = pc.match_substring_regex(text, _DIGITS)
    zoned = pc.match_substring_regex(text, _ZONED)
    if pc.all(digits).as_py():
        try:
            return _epoch(text.cast(pa.int64()))
        except (pa.ArrowInvalid, OverflowError):
            pass
    elif not pc.any(digits).as_py():
        try:
            if pc.all(zoned).as_py():
                return _utc(text.cast(pa.timestamp("ns", "UTC")))
            if not pc.any(zoned).as_py():
                return _utc(_localised(text.cast(pa.timestamp("ns")), zone))
        except (pa.ArrowInvalid, OverflowError):
            pass
    # Mixed forms (or a bad value): each form parsed apart, the bad row named if one fails.
    def epoch(part: Any) -> Any:
        return _epoch(part.cast(pa.int64()))

    def with_zone(part: Any) -> Any:
        return _utc(part.cast(pa.timestamp("ns", "UTC")))

    def naive(part: Any) -> Any:
        return _utc(_localised(part.cast(pa.timestamp("ns")), zone))

    out = pa.nulls(len(text), UTC_US)
    forms: list[tuple[Any, Callable[[Any], Any]]] = [(digits, epoch), (zoned, with_zone),
                                                    (pc.invert(pc.or_(digits, zoned)), naive)]
    for mask, parse in forms:
        if not pc.any(mask).as_py():
            continue
        part = pc.if_else(mask, text, pa.scalar(None, pa.string()))
        try:
            parsed = parse(part)
        except (pa.ArrowInvalid, OverflowError):
            bad = first_failure(part, parse)
            raise _fail(rows, bad, "timestamp", f"{shown(values, bad)!r} is not a time; write ISO 8601 "
                                                "(2024-03-01T14:30:00Z) or epoch seconds/ms/µs/ns") from None
        out = pc.if_else(mask, parsed, out)
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])


def _localised(values: Any, zone: str) -> Any:
    return pc.assume_timezone(values, "UTC" if zone.upper() == "UTC" else zone, ambiguous="earliest",
                              nonexistent="latest")


def _utc(values: Any) -> Any:
    return pc.cast(values, UTC_US, safe=False)


def _epoch(numbers: Any) -> Any:
    micros = pc.case_when(
        pc.make_struct(pc.less(numbers, _EPOCH_LIMIT), pc.less(numbers, _EPOCH_LIMIT * 1_000),
                       pc.less(numbers, _EPOCH_LIMIT * 1_000_000)),
        pc.multiply(numbers, 1_000_000), pc.multiply(numbers, 1_000), numbers,
        pc.divide(numbers, 1_000),
    )
    return pc.cast(micros, pa.int64()).cast(UTC_US)


def to_decimals(values: pa.Array) -> list[Decimal]:
    """Exact ``Decimal`` values of a column as written (``"1.0"`` stays ``1.0``, a float by its shortest repr).

    Equal values share one object: a file holds few distinct prices.
    """
    kind = values.type
    if pa.types.is_decimal(kind):
        return values.to_pylist()  # type: ignore[no-any-return]
    encoded = values.dictionary_encode() if not pa.types.is_dictionary(kind) else values
    raw = encoded.dictionary.to_pylist()
    if pa.types.is_floating(encoded.dictionary.type):
        distinct = [Decimal(repr(v)) for v in raw]
    elif pa.types.is_string(encoded.dictionary.type) or pa.types.is_large_string(encoded.dictionary.type):
        distinct = [Decimal(v.strip()) for v in raw]
    else:
        distinct = [Decimal(v) for v in raw]
    return [distinct[i] for i in encoded.indices.to_numpy(zero_copy_only=False).tolist()]
