"""Checking raw OHLC rows and turning them into ``Bars``, with errors that name the row.

Every check the event models would make (positive finite prices, high/low bracketing open and close, a valid
symbol, aware timestamps) is made here once per row, plus what a time series needs: rows in time order, no
duplicate timestamps, no overlapping bars, one bar period per symbol. Gaps (weekends, holidays, nights) are
counted, and refused only under the gap policy ``error``. Daily and weekly bars are placed by their date in the
data's zone, so a daylight-saving change (a 23-hour "day") or a week labelled by its last trading day is no
overlap, and daily bars without weekend rows count no weekend as a gap. With an exchange calendar the gaps are
instead the bars its sessions expect that the file lacks (``ingenium.backtest.calendars``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingenium.backtest.bars import Bars
from ingenium.backtest.calendars import DAILY, Calendar, check_sessions, load_calendar, week_of
from ingenium.errors import ConfigurationError, IngeniumError
from ingenium.fields import is_valid_symbol
from ingenium.ids import derive_id
from ingenium.period import format_period, parse_period

GapPolicy = Literal["accept", "warn", "error"]
#: Warnings kept per symbol about sessions with missing bars (the counts in the summary cover them all).
MAX_SESSION_WARNINGS = 100
REQUIRED = ("timestamp", "open", "high", "low", "close")
OPTIONAL = ("volume", "symbol", "period")
T = TypeVar("T")


class DataError(IngeniumError):
    """A data file or its rows cannot be backtested; the message names the file and the row."""


@dataclass(frozen=True, slots=True)
class RawTable:
    """Rows as read from a file, by canonical column name, before any check.

    Attributes:
        columns: Values per column (``timestamp``, ``open`` … and any of ``volume``, ``symbol``, ``period``).
        source: The file, for messages.
        row_label: How to name row ``i`` in a message (``line 17`` for CSV, ``row 16`` for Parquet).

    """

    columns: Mapping[str, Sequence[Any]]
    source: str
    row_label: Callable[[int], str]


def to_decimal(value: Any) -> Decimal:
    """Parse a finite ``Decimal`` from a string, int, Decimal or float (floats through their shortest repr)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int | str) and not isinstance(value, bool):
        number = Decimal(value)
    else:
        raise ValueError(f"{value!r} is not a number")
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def to_utc(value: Any, zone: tzinfo) -> datetime:
    """Parse a UTC datetime from ISO 8601, epoch seconds/ms/µs/ns or a datetime; naive ones are in ``zone``."""
    if isinstance(value, str):
        text = value.strip()
        moment = _from_epoch(int(text)) if text.isdigit() else datetime.fromisoformat(text)
    elif isinstance(value, datetime):
        # Subclasses (pandas.Timestamp) become plain datetimes, so outputs do not depend on what is installed.
        moment = value if type(value) is datetime else datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond,
            tzinfo=value.tzinfo)
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, int) and not isinstance(value, bool):
        moment = _from_epoch(value)
    else:
        raise ValueError(f"{value!r} is not a timestamp")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _from_epoch(number: int) -> datetime:
    # The magnitude tells the unit: seconds until the year 5138, then milliseconds, microseconds, nanoseconds.
    for divisor in (1, 1_000, 1_000_000, 1_000_000_000):
        if number < 100_000_000_000 * divisor:
            return datetime.fromtimestamp(number / divisor, UTC)
    raise ValueError(f"{number} is too large for an epoch timestamp")


def zone_named(name: str) -> tzinfo:
    """Look up the time zone ``name`` (``UTC``, ``America/New_York``) naive timestamps are read in."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {name!r}; use an IANA name such as America/New_York") from None


def _convert(table: RawTable, name: str, convert: Callable[[Any], T]) -> list[T]:
    values = table.columns[name]
    try:
        return [convert(v) for v in values]
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        pass
    # Slow path, only on failure: find the first bad row to name it.
    for index, value in enumerate(values):
        try:
            convert(value)
        except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
            detail = "is empty" if value in ("", None) else f"{value!r} is not valid ({exc})"
            raise DataError(f"{table.source} {table.row_label(index)}: {name} {detail}") from None
    raise AssertionError("a conversion failed once and then succeeded on every row")


def _float_decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _shared(values: Sequence[Any], convert: Callable[[Any], Decimal]) -> list[Decimal]:
    """Convert with one Decimal per distinct value.

    Prices repeat (a file holds a few thousand distinct ticks), so a million-row file takes a third of the memory.
    """
    cache: dict[Any, Decimal] = {}
    get = cache.get
    out: list[Decimal] = []
    for value in values:
        number = get(value)
        if number is None:
            number = cache[value] = convert(value)
        out.append(number)
    return out


#: Converters for a column whose values all have one type (a file's column does): no per-value type checks.
_FAST_DECIMAL: dict[type, Callable[[Any], Decimal]] = {str: Decimal, int: Decimal, float: _float_decimal}


def _decimals(table: RawTable, name: str) -> list[Decimal]:
    values = table.columns[name]
    kind = type(values[0]) if values else None
    try:
        if kind is Decimal:
            out = list(values)  # as given: Decimal("1.0") == Decimal("1"), so sharing would change how it is written
        elif kind in _FAST_DECIMAL:
            out = _shared(values, _FAST_DECIMAL[kind])
        else:
            out = []
    except (ValueError, TypeError, InvalidOperation):
        out = []
    # A mixed column (say a float among strings), NaN or a bad value takes the checked path, which names the row.
    if out and all(map(Decimal.is_finite, out)) and all(type(v) is kind for v in values):
        return out
    return _convert(table, name, to_decimal)


def _times(table: RawTable, zone: tzinfo) -> list[datetime]:
    values = table.columns["timestamp"]
    if values and type(values[0]) is str:
        try:
            parsed = list(map(datetime.fromisoformat, values))
        except (ValueError, TypeError):
            pass
        else:
            return [m.astimezone(UTC) if m.tzinfo is not None else m.replace(tzinfo=zone).astimezone(UTC)
                    for m in parsed]
    return _convert(table, "timestamp", lambda v: to_utc(v, zone))


def _first(rows: Sequence[int], test: Callable[[int], bool]) -> int | None:
    return next((i for i in rows if test(i)), None)


def validate(
    table: RawTable, *, symbol: str | None = None, period: str | None = None, tz: str = "UTC",
    gaps: GapPolicy = "accept", calendar: str | None = None,
) -> Bars:
    """Check every row of ``table`` and return the bars sorted by (start, symbol).

    Args:
        table: Rows by canonical column name.
        symbol: Symbol of every row when the table has no ``symbol`` column.
        period: Bar length (``1m``) when the table has no ``period`` column; inferred from the spacing if ``None``.
        tz: Zone of timestamps written without an offset (and of the dates of daily bars).
        gaps: What a gap is: ``accept``ed and counted (``Bars.gaps``), also listed in ``Bars.warnings``
            (``warn``), or an ``error``.
        calendar: An exchange-calendars code (``XNYS``): gaps are then the bars its sessions expect that the
            table lacks, always listed in ``Bars.warnings`` (unless ``error``).

    Raises:
        DataError: naming the file, the row and what is wrong with it.

    """
    src, label = table.source, table.row_label
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        found = ", ".join(table.columns) or "none"
        raise DataError(f"{src}: missing column(s) {', '.join(missing)} (found: {found}); "
                        f"needed: {', '.join(REQUIRED)}, optional: {', '.join(OPTIONAL)}")
    n = len(table.columns["timestamp"])
    if n == 0:
        raise DataError(f"{src}: no rows")
    zone = zone_named(tz)
    starts = _times(table, zone)
    opens, highs, lows, closes = (_decimals(table, c) for c in ("open", "high", "low", "close"))
    volumes = _decimals(table, "volume") if "volume" in table.columns else [Decimal(0)] * n
    rows = range(n)
    for name, column in (("open", opens), ("high", highs), ("low", lows), ("close", closes)):
        if min(column) <= 0:
            bad = next(i for i, value in enumerate(column) if value <= 0)
            raise DataError(f"{src} {label(bad)}: {name} {column[bad]} must be greater than zero")
    if min(volumes) < 0:
        bad = next(i for i, value in enumerate(volumes) if value < 0)
        raise DataError(f"{src} {label(bad)}: volume {volumes[bad]} must not be negative")
    odd = _first(rows, lambda i: lows[i] > min(opens[i], closes[i]) or highs[i] < max(opens[i], closes[i]))
    if odd is not None:
        raise DataError(f"{src} {label(odd)}: low {lows[odd]} / high {highs[odd]} must bracket "
                        f"open {opens[odd]} and close {closes[odd]}")
    symbols = _symbols(table, symbol, n)
    groups: dict[str, list[int]] = {}
    for index, name in enumerate(symbols):
        groups.setdefault(name, []).append(index)
    periods: list[str] = [""] * n
    warnings: list[str] = []
    sessions = None
    if calendar is not None:
        sessions = load_calendar(calendar, min(starts).astimezone(zone).date(), max(starts).astimezone(zone).date())
    gap_count = missing_bars = 0
    for name, members in groups.items():
        length = _period_of(table, name, members, starts, period)
        spaced = _check_spacing(table, name, members, starts, length, zone)
        if sessions is not None:
            count, lacking = _check_sessions(table, name, members, starts, length, zone, sessions, gaps, warnings)
        else:
            count, lacking = len(spaced), sum(k for _, k in spaced)
            if spaced and gaps == "error":
                raise DataError(f"{spaced[0][0]}; drop --gaps error to accept gaps, or name the exchange "
                                "(--calendar XNYS) so that only bars missing inside its sessions count")
            if gaps == "warn":
                warnings.extend(message for message, _ in spaced)
        gap_count += count
        missing_bars += lacking
        text = format_period(length)
        for i in members:
            periods[i] = text
    order: Sequence[int] = rows
    if len(groups) > 1:
        order = sorted(rows, key=lambda i: (starts[i], symbols[i]))
    lengths = {text: parse_period(text) for text in set(periods)}
    ids = [derive_id("data", symbols[i], periods[i], starts[i].isoformat()) for i in order]
    return Bars(
        ids=ids,
        symbols=[symbols[i] for i in order],
        starts=[starts[i] for i in order],
        ends=[starts[i] + lengths[periods[i]] for i in order],
        periods=[periods[i] for i in order],
        opens=[opens[i] for i in order], highs=[highs[i] for i in order], lows=[lows[i] for i in order],
        closes=[closes[i] for i in order], volumes=[volumes[i] for i in order],
        source=src, warnings=tuple(warnings), gaps=gap_count, missing_bars=missing_bars,
        calendar=sessions.name if sessions is not None else None,
    )


def _symbols(table: RawTable, symbol: str | None, n: int) -> list[str]:
    if "symbol" not in table.columns:
        if symbol is None:
            raise DataError(f"{table.source}: no symbol column; name the symbol (--symbol AAPL)")
        if not is_valid_symbol(symbol):
            raise ConfigurationError(f"{symbol!r} is not a valid symbol: use 1-64 letters, digits or _-/:")
        return [symbol] * n
    values = [str(v).strip() if v is not None else "" for v in table.columns["symbol"]]
    for name in dict.fromkeys(values):  # first appearance order, so the first bad row is reported
        if not is_valid_symbol(name):
            row = values.index(name)
            raise DataError(f"{table.source} {table.row_label(row)}: symbol {name!r} is not valid: use 1-64 "
                            "letters, digits or _-/: (it becomes a NATS subject token)")
    return values


def _period_of(table: RawTable, symbol: str, members: list[int], starts: list[datetime],
               period: str | None) -> timedelta:
    if "period" in table.columns:
        column = table.columns["period"]
        first = str(column[members[0]])
        odd = _first(members, lambda i: str(column[i]) != first)
        if odd is not None:
            raise DataError(f"{table.source} {table.row_label(odd)}: period {column[odd]!r} differs from "
                            f"{first!r} earlier for {symbol}; one symbol needs one bar period")
        return _parsed(table, members[0], first)
    if period is not None:
        return parse_period(period)
    deltas = [starts[b] - starts[a] for a, b in itertools.pairwise(members)]
    positive = [d for d in deltas if d > timedelta(0)]
    if not positive:
        raise DataError(f"{table.source}: cannot infer the bar period of {symbol} from {len(members)} bar(s); "
                        "pass it (--period 1m)")
    return Counter(positive).most_common(1)[0][0]


def _parsed(table: RawTable, row: int, text: str) -> timedelta:
    try:
        return parse_period(text)
    except ConfigurationError as exc:
        raise DataError(f"{table.source} {table.row_label(row)}: {exc}") from None


def _check_spacing(table: RawTable, symbol: str, members: list[int], starts: list[datetime], length: timedelta,
                   zone: tzinfo) -> list[tuple[str, int]]:
    """Refuse duplicate, unsorted and overlapping bars; return each gap as (message, bars missing, 0 if unknown)."""
    src, label = table.source, table.row_label
    whole_days = length >= DAILY and length % timedelta(days=1) == timedelta(0)
    weekly = whole_days and length.days % 7 == 0
    # Daily and weekly bars are placed by date (in the data's zone): their clock time may shift with daylight
    # saving or with the day a week is labelled by.
    dates = [starts[i].astimezone(zone).date() for i in members] if whole_days else []
    weekdays_only = whole_days and not weekly and all(d.weekday() < 5 for d in dates)
    step = length.days // 7 if weekly else length.days
    found: list[tuple[str, int]] = []
    for k, (a, b) in enumerate(itertools.pairwise(members)):
        delta = starts[b] - starts[a]
        # The common case first, and nothing formatted for it: this runs for every row of a file.
        if whole_days:
            before, after = dates[k], dates[k + 1]
            apart = week_of(after) - week_of(before) if weekly else (after - before).days
            if apart == step:
                continue
        elif delta == length:
            continue
        where = f"{src} {label(b)}: {symbol} at {starts[b].isoformat()}"
        if delta == timedelta(0):
            raise DataError(f"{where} duplicates the timestamp of {label(a)}; keep one bar per timestamp")
        if delta < timedelta(0):
            raise DataError(f"{where} comes before {label(a)} ({starts[a].isoformat()}); sort the rows by time")
        if whole_days:
            if apart < step:
                unit = "week" if weekly else "day"
                raise DataError(f"{where} falls in the same {unit} as {label(a)} ({starts[a].isoformat()}) for "
                                f"{format_period(length)} bars; keep one bar per {unit}")
            if weekdays_only:
                missing = sum(1 for d in range(1, apart) if (before + timedelta(days=d)).weekday() < 5)
                if missing == 0:
                    continue  # a weekend, in data that has no weekend bars
                missed = f"{missing} missing weekday bar(s)"
            else:
                missing = apart // step - 1 if apart % step == 0 else 0
                missed = f"{missing} missing bar(s)" if missing else "misaligned"
        else:
            if delta < length:
                raise DataError(f"{where} starts {delta} after {label(a)}, less than the bar period "
                                f"{format_period(length)}; bars overlap")
            missing = delta // length - 1 if delta % length == timedelta(0) else 0
            missed = f"{missing} missing bar(s)" if missing else "misaligned"
        found.append((f"{where} follows {label(a)} after {delta}, a gap ({missed}) in {format_period(length)} bars",
                      missing))
    return found


def _check_sessions(table: RawTable, symbol: str, members: list[int], starts: list[datetime], length: timedelta,
                    zone: tzinfo, calendar: Calendar, gaps: GapPolicy, warnings: list[str]) -> tuple[int, int]:
    """Report the bars ``calendar`` expects that ``symbol`` lacks; returns (gaps, bars missing)."""
    src = table.source
    report = check_sessions([starts[i] for i in members], length, zone, calendar)
    lines = [f"{src}: {symbol} has {lacking} of the {expected} {format_period(length)} bar(s) {calendar.name} expects "
             f"in its session of {day.isoformat()} missing, the first at {first.isoformat()}"
             for day, lacking, expected, first in report.missing]
    if lines and gaps == "error":
        raise DataError(f"{lines[0]}; drop --gaps error to accept gaps")
    warnings.extend(lines[:MAX_SESSION_WARNINGS])
    if len(lines) > MAX_SESSION_WARNINGS:
        warnings.append(f"{src}: {symbol}: {len(lines) - MAX_SESSION_WARNINGS} more session(s) of {calendar.name} "
                        "with missing bars")
    if report.outside:
        row = members[report.outside[0]]
        warnings.append(f"{src}: {len(report.outside)} bar(s) of {symbol} fall outside {calendar.name}'s sessions, "
                        f"the first at {table.row_label(row)} ({starts[row].isoformat()}); check --tz and that "
                        "timestamps are bar starts")
    return report.gaps, report.missing_bars
