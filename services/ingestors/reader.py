"""Reading OHLC bars from CSV or Parquet files, with column mapping, time zones and row-level errors."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingenium.errors import ConfigurationError, IngeniumError
from ingenium.fields import is_valid_symbol

FIELDS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")
REQUIRED = ("timestamp", "open", "high", "low", "close")
#: Column names recognised without a mapping (compared case-insensitively).
DEFAULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "datetime", "date", "ts"),
    "symbol": ("symbol", "ticker"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}


class DataFileError(IngeniumError):
    """A bar file cannot be loaded; the message names the file, the row and what to fix."""


@dataclass(frozen=True, slots=True)
class BarRow:
    """One validated bar from a file; ``row`` is the CSV line number or the Parquet row number (1-based)."""

    row: int
    symbol: str
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def parse_zone(name: str) -> tzinfo:
    """A time zone from its IANA name (``UTC``, ``America/New_York`` …)."""
    try:
        return UTC if name.upper() == "UTC" else ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"time zone {name!r} is unknown: use an IANA name such as America/New_York") from None


def resolve_columns(available: Iterable[str], mapping: Mapping[str, str], *, has_symbol: bool) -> dict[str, str]:
    """Map each field to a file column: ``mapping`` (column → field) first, then the default names."""
    columns = list(available)
    resolved: dict[str, str] = {}
    for column, field in mapping.items():
        if field not in FIELDS:
            raise ConfigurationError(f"--map {column}={field}: {field!r} is not a field; fields: {', '.join(FIELDS)}")
        if column not in columns:
            raise DataFileError(f"--map {column}={field}: the file has no column {column!r}; it has {columns}")
        resolved[field] = column
    lowered = {c.lower().strip(): c for c in columns}
    for field, names in DEFAULT_COLUMNS.items():
        if field in resolved:
            continue
        for name in names:
            if name in lowered and lowered[name] not in resolved.values():
                resolved[field] = lowered[name]
                break
    missing = [f for f in REQUIRED if f not in resolved]
    if not has_symbol and "symbol" not in resolved:
        missing.append("symbol (or pass --symbol)")
    if missing:
        raise DataFileError(
            f"no column for {', '.join(missing)}; the file has {columns}; map them with --map COLUMN=FIELD"
        )
    return resolved


def _decimal(value: Any, field: str, where: str) -> Decimal:
    if value is None or value == "":
        raise DataFileError(f"{where}: {field} is empty")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise DataFileError(f"{where}: {field} {value!r} is not a number") from None
    if not number.is_finite():
        raise DataFileError(f"{where}: {field} {value!r} is not a finite number")
    return number


def _timestamp(value: Any, zone: tzinfo, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - localised just below
    elif isinstance(value, int) or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()):
        epoch = int(value.strip()) if isinstance(value, str) else value  # int() strips less than str.strip()
        # Epoch milliseconds have 13 digits until the year 2286; seconds have at most 11.
        try:
            moment = datetime.fromtimestamp(epoch / 1000 if epoch > 99_999_999_999 else epoch, UTC)
        except (OverflowError, OSError, ValueError):
            raise DataFileError(f"{where}: timestamp {value!r} is out of range as epoch seconds or ms") from None
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise DataFileError(
                f"{where}: timestamp {value!r} is not ISO 8601 (2024-01-02T14:30:00Z) or epoch seconds/milliseconds"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _csv_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            records = [(reader.line_num, record) for record in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{path.name}: cannot read the CSV file ({exc}); save it as UTF-8 CSV") from None
    return header, iter(records)


def _parquet_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataFileError(f"{path.name}: cannot read the Parquet file ({exc})") from None
    for index, column in enumerate(table.schema):
        # Python datetimes hold microseconds: nanosecond columns are cast down rather than refused.
        if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
            table = table.set_column(
                index, column.name, table.column(index).cast(pa.timestamp("us", column.type.tz), safe=False)
            )
    header = list(table.column_names)
    return header, ((i + 1, record) for i, record in enumerate(table.to_pylist()))


def read_bars(
    path: Path,
    *,
    symbol: str | None = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    symbols: Iterable[str] | None = None,
) -> list[BarRow]:
    """Read and validate every bar of a CSV or Parquet file, sorted by (time, symbol).

    Args:
        path: A ``.csv`` or ``.parquet`` file.
        symbol: Symbol for every row when the file has no symbol column.
        columns: File column → field (``timestamp``, ``symbol``, ``open``, ``high``, ``low``, ``close``,
            ``volume``) for columns without a standard name.
        tz: Time zone of naive timestamps.
        symbols: Load only these symbols (all when ``None``).

    Raises:
        DataFileError: The file is missing, has no usable columns, or a row is invalid (named in the message).

    """
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    if symbol is not None and not is_valid_symbol(symbol):
        raise ConfigurationError(f"--symbol {symbol!r} is not a valid symbol (letters, digits, _-/:)")
    zone = parse_zone(tz)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, records = _csv_rows(path)
        label = "line"
    elif suffix in (".parquet", ".pq"):
        header, records = _parquet_rows(path)
        label = "row"
    else:
        raise DataFileError(f"{path}: unknown file type {suffix!r}; give a .csv or .parquet file")
    resolved = resolve_columns(header, columns or {}, has_symbol=symbol is not None)
    wanted = {s.lower() for s in symbols} if symbols is not None else None
    bars: list[BarRow] = []
    seen: dict[tuple[str, datetime], int] = {}
    for row, record in records:
        where = f"{path.name} {label} {row}"
        name = symbol if "symbol" not in resolved else str(record[resolved["symbol"]] or "").strip()
        if not name or not is_valid_symbol(name):
            raise DataFileError(f"{where}: symbol {name!r} is not valid (letters, digits, _-/:)")
        if wanted is not None and name.lower() not in wanted:
            continue
        bar = BarRow(
            row=row,
            symbol=name,
            start=_timestamp(record[resolved["timestamp"]], zone, where),
            open=_decimal(record[resolved["open"]], "open", where),
            high=_decimal(record[resolved["high"]], "high", where),
            low=_decimal(record[resolved["low"]], "low", where),
            close=_decimal(record[resolved["close"]], "close", where),
            volume=_decimal(record[resolved["volume"]], "volume", where) if "volume" in resolved else Decimal(0),
        )
        _check(bar, where)
        key = (bar.symbol, bar.start)
        if key in seen:
            raise DataFileError(f"{where}: {bar.symbol} at {bar.start.isoformat()} repeats {label} {seen[key]}")
        seen[key] = row
        bars.append(bar)
    bars.sort(key=lambda b: (b.start, b.symbol))
    return bars


def _check(bar: BarRow, where: str) -> None:
    if min(bar.open, bar.high, bar.low, bar.close) <= 0:
        raise DataFileError(f"{where}: prices must be greater than zero (open {bar.open}, low {bar.low} …)")
    if bar.low > min(bar.open, bar.close) or bar.high < max(bar.open, bar.close):
        raise DataFileError(
            f"{where}: low {bar.low} / high {bar.high} do not bracket open {bar.open} and close {bar.close}"
        )
    if bar.volume < 0:
        raise DataFileError(f"{where}: volume {bar.volume} is negative")
