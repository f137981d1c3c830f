"""Reading bar files, CSV or Parquet, into ``Bars``: columns are found by name, every row is checked."""

from __future__ import annotations

import csv
import gzip
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ingenium.backtest.bars import Bars
from ingenium.backtest.validation import OPTIONAL, REQUIRED, DataError, GapPolicy, RawTable, validate
from ingenium.errors import ConfigurationError

#: Header names accepted for each column, compared case-insensitively.
ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp", "time", "datetime", "date", "start"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
    "symbol": ("symbol", "ticker"),
    "period": ("period",),
}


def load_bars(
    path: str | Path, *, symbol: str | None = None, period: str | None = None, tz: str = "UTC",
    gaps: GapPolicy = "accept", calendar: str | None = None, columns: Mapping[str, str] | None = None,
) -> Bars:
    """Read and check a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file of OHLC bars.

    Args:
        path: The file.
        symbol: Symbol of every row when the file has no ``symbol`` column; defaults to the file's stem.
        period: Bar length (``1m``) when the file has no ``period`` column; inferred from the spacing if ``None``.
        tz: Zone of timestamps written without an offset.
        gaps: ``accept`` gaps (weekends, holidays, nights) and count them (default), also ``warn`` of each one, or
            make one an ``error``.
        calendar: Exchange calendar (an exchange-calendars code such as ``XNYS``): then a gap is a bar missing
            inside one of its sessions, and each session with missing bars is listed in ``Bars.warnings``.
        columns: Header for a column whose header is not one of ``ALIASES``, e.g. ``{"timestamp": "Date"}``.

    Raises:
        DataError: the file is missing or unreadable, a column is missing, or a row is wrong (named in the message).

    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file {file} does not exist")
    name = file.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        table = _read_csv(file, columns or {})
    elif name.endswith((".parquet", ".pq")):
        table = _read_parquet(file, columns or {})
    else:
        raise DataError(f"{file}: unknown format; use a .csv, .csv.gz, .parquet or .pq file")
    if symbol is None and "symbol" not in table.columns:
        symbol = file.name.split(".")[0]
    return validate(table, symbol=symbol, period=period, tz=tz, gaps=gaps, calendar=calendar)


def _match(headers: list[str], mapping: Mapping[str, str], source: str) -> dict[str, int]:
    """Canonical column → position in ``headers``."""
    unknown = [k for k in mapping if k not in ALIASES]
    if unknown:
        raise ConfigurationError(f"unknown column name(s) {', '.join(unknown)}; map one of {', '.join(ALIASES)}")
    lowered = [h.strip().lower() for h in headers]
    found: dict[str, int] = {}
    for canonical, aliases in ALIASES.items():
        wanted = (mapping[canonical].strip().lower(),) if canonical in mapping else aliases
        for alias in wanted:
            if alias in lowered:
                found[canonical] = lowered.index(alias)
                break
        else:
            if canonical in mapping:
                raise DataError(f"{source}: no column {mapping[canonical]!r} for {canonical} "
                                f"(columns: {_listed(headers)})")
    if "timestamp" not in found and lowered and lowered[0] in ("", "__index_level_0__"):
        # pandas writes an unnamed index (usually the timestamps) first, with an empty or generated name.
        found["timestamp"] = 0
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (found: {_listed(headers) or 'none'}); "
                        f"needed: {', '.join(REQUIRED)}, optional: {', '.join(OPTIONAL)}")
    return found


def _listed(headers: list[str]) -> str:
    """Headers for a message, on one line: a quoted header may hold a line break (or other control characters)."""
    return ", ".join(h if h.isprintable() else repr(h) for h in headers)


def _read_csv(file: Path, mapping: Mapping[str, str]) -> RawTable:
    source = str(file)
    opener: Any = gzip.open if file.name.lower().endswith(".gz") else open
    lines = array("l")  # the file line of each row, for messages (blank lines and quoted newlines shift them)
    try:
        with opener(file, "rt", newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            headers = next(reader, None)
            if headers is None:
                raise DataError(f"{source}: the file is empty; the first line must name the columns")
            found = _match(headers, mapping, source)
            width = len(headers)
            columns: dict[str, list[str]] = {name: [] for name in found}
            wanted = [(columns[name].append, pos) for name, pos in found.items()]
            for row in reader:
                if not row:
                    continue
                if len(row) != width:
                    raise DataError(f"{source} line {reader.line_num}: {len(row)} fields, but the header names {width}")
                lines.append(reader.line_num)
                for append, pos in wanted:
                    append(row[pos])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{source}: cannot read the file ({exc})") from None
    return RawTable(columns=columns, source=source, row_label=lambda i: f"line {lines[i]}")


def _read_parquet(file: Path, mapping: Mapping[str, str]) -> RawTable:
    import pyarrow.parquet as pq  # imported here: only Parquet users pay for loading pyarrow

    source = str(file)
    try:
        table = pq.read_table(file)
    except (OSError, ValueError) as exc:
        raise DataError(f"{source}: cannot read the Parquet file ({exc})") from None
    headers = list(table.column_names)
    found = _match(headers, mapping, source)
    return RawTable(
        columns={name: table.column(pos).to_pylist() for name, pos in found.items()},
        source=source,
        row_label=lambda i: f"row {i + 1}",
    )
