"""``read_bars``: the one reader of bar files (CSV, CSV.gz, Parquet), used by the ingestor, backtest and web UI.

Reading and every check are vectorised (pyarrow and numpy): no Python work per row until a batch of events
is built. Prices stay exactly as written: a CSV's ``101.25`` becomes ``Decimal("101.25")``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingenium.bars.columns import REQUIRED, parse_mapping
from ingenium.bars.errors import BarFileError
from ingenium.bars.files import Rows, read_file
from ingenium.bars.spacing import GapPolicy, check_series
from ingenium.bars.table import Bars
from ingenium.bars.values import UTC_US, first_true, number_view, shown, utc_times, zone_named
from ingenium.errors import ConfigurationError, printable
from ingenium.fields import is_valid_symbol
from ingenium.period import format_period

PRICES = ("open", "high", "low", "close")


def read_bars(
    path: str | Path, *, mapping: Mapping[str, str] | str | Iterable[str] | None = None, symbol: str | None = None,
    period: str | None = None, tz: str = "UTC", gaps: GapPolicy = "accept", calendar: str | None = None,
    symbols: Iterable[str] | None = None, sort: bool = False,
) -> Bars:
    """Read and check a CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file of OHLC bars.

    Args:
        path: The file.
        mapping: Field → file column for headers that are not in ``ALIASES``: ``{"timestamp": "Date"}`` or
            ``"timestamp=Date,close=Last"``.
        symbol: Symbol of every row when the file has no ``symbol`` column; defaults to the file's stem.
        period: Bar length (``1m``) when the file has no ``period`` column; inferred from the spacing if ``None``.
        tz: Zone of timestamps written without an offset (and of the dates of daily bars).
        gaps: ``accept`` gaps (weekends, holidays, nights) and count them (default), also ``warn`` of each one, or
            make one an ``error``.
        calendar: Exchange calendar (an exchange-calendars code such as ``XNYS``): then a gap is a bar missing
            inside one of its sessions, and each session with missing bars is listed in ``Bars.warnings``.
        symbols: Keep only these symbols (compared case-insensitively); all when ``None``.
        sort: Sort each symbol's rows by time first, instead of refusing rows out of order.

    Raises:
        BarFileError: the file is missing or unreadable, a column is missing, or a row is wrong (named in the
            message, with ``file``, ``line`` and ``column`` set).
        ConfigurationError: an argument is wrong (the mapping, the zone, the period, the calendar).

    """
    file = Path(path)
    wanted = parse_mapping(mapping)
    zone_named(tz)
    table, rows = read_file(file, wanted)
    if symbol is None and "symbol" not in table.column_names:
        symbol = file.name.split(".")[0]
    return check_bars(table, rows, symbol=symbol, period=period, tz=tz, gaps=gaps, calendar=calendar,
                      symbols=symbols, sort=sort)


def bars_from_columns(
    columns: Mapping[str, Sequence[Any] | pa.Array | pa.ChunkedArray] | pa.Table, *, symbol: str | None = None,
    period: str | None = None, tz: str = "UTC", gaps: GapPolicy = "accept", source: str = "<memory>",
) -> Bars:
    """Check bars held in memory (a pyarrow table, or lists by field) exactly as a file's are checked.

    ``Decimal`` values keep how they are written (``1.0`` stays ``1.0``); floats count by their shortest repr.
    """
    if isinstance(columns, pa.Table):
        table = columns
    else:
        table = pa.table({name: _arrow(values) for name, values in columns.items()})
    return check_bars(table, Rows(source), symbol=symbol, period=period, tz=tz, gaps=gaps, calendar=None)


def _arrow(values: Sequence[Any] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    first = values[0] if len(values) else None
    if isinstance(first, Decimal):
        return pa.array([str(v) for v in values], pa.string())  # text keeps each value's own exponent
    if isinstance(first, datetime):  # typed: nine times faster than pyarrow's inference
        return pa.array(values, pa.timestamp("us", "UTC" if first.tzinfo is not None else None))
    return pa.array(values)


def check_bars(
    table: pa.Table, rows: Rows, *, symbol: str | None, period: str | None, tz: str, gaps: GapPolicy,
    calendar: str | None, symbols: Iterable[str] | None = None, sort: bool = False,
) -> Bars:
    """Check every row of ``table`` (columns named by field) and return the bars sorted by (start, symbol)."""
    src = rows.file
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        found = ", ".join(map(printable, table.column_names))
        raise BarFileError(src, f"missing column(s) {', '.join(missing)} (found: {found}); "
                                "map them with FIELD=COLUMN (timestamp=Date)")
    n = table.num_rows
    if n == 0:
        raise BarFileError(src, "no rows; give a file with at least one bar")
    zone = zone_named(tz)
    starts = utc_times(table.column("timestamp"), tz, rows)
    views = {name: number_view(table.column(name), name, rows) for name in PRICES}
    if "volume" in table.column_names:
        views["volume"] = number_view(table.column("volume"), "volume", rows)
        volume = table.column("volume")
    else:
        volume = pa.chunked_array([pa.repeat(pa.scalar(0, pa.int64()), n)])
    if len({v.type for v in views.values()}) > 1:  # float columns beside exact ones: compare all as floats
        views = {name: view.cast(pa.float64()) for name, view in views.items()}
    _check_prices(table, views, rows)
    names = _symbols(table, symbol, n, rows)
    keep = None
    if symbols is not None:
        chosen = pa.array(sorted({s.lower() for s in symbols}), pa.string())
        keep = pc.is_in(pc.utf8_lower(names), value_set=chosen)
    out = pa.table({
        "symbol": names, "start": starts, "period": pa.nulls(n, pa.string()),
        "open": table.column("open"), "high": table.column("high"), "low": table.column("low"),
        "close": table.column("close"), "volume": volume, "row": pa.array(np.arange(n, dtype=np.int64)),
        **({"period_given": table.column("period")} if "period" in table.column_names else {}),
    })
    if keep is not None:
        out = out.filter(keep)
        if out.num_rows == 0:
            raise BarFileError(src, "none of the symbols asked for is in the file; check --symbols")
    if sort:
        out = out.take(pc.sort_indices(out, sort_keys=[("symbol", "ascending"), ("start", "ascending")]))
    encoded = out.column("symbol").combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    distinct: list[str] = encoded.dictionary.to_pylist()
    if sort:  # first appearance in the file decides which symbol is checked first, as without sorting
        firsts = np.full(len(distinct), n, dtype=np.int64)
        np.minimum.at(firsts, codes, out.column("row").to_numpy())
        order = np.argsort(firsts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        codes, distinct = rank[codes], [distinct[i] for i in order]
    start_us = out.column("start").cast(pa.int64()).to_numpy()
    series = check_series(start_us, codes, distinct, out.column("row").to_numpy(), rows,
                          out.column("period_given") if "period_given" in out.column_names else None, period, tz,
                          zone, gaps, calendar)
    step = np.array([length.total_seconds() * 1_000_000 for length in series.lengths], dtype=np.int64)
    texts = pa.array([format_period(length) for length in series.lengths], pa.string())
    out = out.set_column(out.column_names.index("period"), "period",
                         pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), texts).cast(pa.string()))
    out = out.append_column("end", pa.array(start_us + step[codes], pa.int64()).cast(UTC_US))
    if "period_given" in out.column_names:
        out = out.drop_columns(["period_given"])
    if len(distinct) > 1:
        ranked = np.empty(len(distinct), dtype=np.int64)
        ranked[np.argsort(np.array(distinct, dtype=object))] = np.arange(len(distinct))
        out = out.take(pa.array(np.lexsort((ranked[codes], start_us))))
    return Bars(out, source=src, rows=rows, warnings=series.warnings, gaps=series.gaps,
                missing_bars=series.missing_bars, calendar=series.calendar)


def _fail(rows: Rows, index: int, problem: str, column: str | None = None) -> BarFileError:
    return BarFileError(rows.file, problem, where=rows.label(index), line=rows.number(index), column=column)


def _check_prices(table: pa.Table, views: dict[str, Any], rows: Rows) -> None:
    for name in PRICES:
        bad = first_true(pc.less_equal(views[name], 0))
        if bad is not None:
            raise _fail(rows, bad, f"{name} {shown(table.column(name), bad)} must be greater than zero", name)
    if "volume" in views:
        bad = first_true(pc.less(views["volume"], 0))
        if bad is not None:
            raise _fail(rows, bad, f"volume {shown(table.column('volume'), bad)} must not be negative", "volume")
    o, h, low, c = (views[name] for name in PRICES)
    odd = first_true(pc.or_(pc.greater(low, pc.min_element_wise(o, c)), pc.less(h, pc.max_element_wise(o, c))))
    if odd is not None:
        low_, high_, open_, close_ = (shown(table.column(name), odd) for name in ("low", "high", "open", "close"))
        raise _fail(rows, odd, f"low {low_} / high {high_} must bracket open {open_} and close {close_}; fix the row")


def _symbols(table: pa.Table, symbol: str | None, n: int, rows: Rows) -> pa.ChunkedArray:
    if "symbol" not in table.column_names:
        if symbol is None:
            raise BarFileError(rows.file, "no symbol column; name the symbol (--symbol AAPL)")
        if not is_valid_symbol(symbol):
            raise ConfigurationError(f"{symbol!r} is not a valid symbol: use 1-64 letters, digits or _-/:")
        return pa.chunked_array([pa.repeat(pa.scalar(symbol, pa.string()), n)])
    column = table.column("symbol")
    names = pc.utf8_trim_whitespace(pc.fill_null(column.cast(pa.string()), ""))
    for name in pc.unique(names).to_pylist():  # first appearance order, so the first bad row is reported
        if not is_valid_symbol(name):
            row = first_true(pc.equal(names, name))
            assert row is not None
            raise _fail(rows, row, f"symbol {name!r} is not valid: use 1-64 letters, digits or _-/: (it becomes a "
                                   "NATS subject token)", "symbol")
    return names
