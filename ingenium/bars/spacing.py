"""The time series checks, per symbol and vectorised with numpy: order, one period, overlaps, gaps, sessions.

Rows must be in time order with no duplicate timestamps and no overlapping bars, one bar period per symbol
(given, from a ``period`` column, or the most common spacing). Gaps (weekends, holidays, nights) are counted,
and refused only under the gap policy ``error``. Daily and weekly bars are placed by their date in the data's
zone, so a daylight-saving change (a 23-hour "day") or a week labelled by its last trading day is no overlap,
and daily bars without weekend rows count no weekend as a gap. With an exchange calendar the gaps are instead
the bars its sessions expect that the file lacks (``ingenium.calendars``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingenium.bars.errors import BarFileError
from ingenium.bars.files import Rows
from ingenium.calendars import DAILY, Calendar, check_sessions, load_calendar
from ingenium.errors import ConfigurationError
from ingenium.period import format_period, parse_period

GapPolicy = Literal["accept", "warn", "error"]
#: Warnings kept per symbol about sessions with missing bars (the counts in the summary cover them all).
MAX_SESSION_WARNINGS = 100
_US = 1_000_000
_DAY_US = 86_400 * _US
#: 1970-01-01 was a Thursday: weekday = (days + 3) % 7, and week_of (Monday weeks from day 1) = (days + 719162) // 7.
_THURSDAY, _WEEK_OFFSET = 3, 719_162


@dataclass(frozen=True, slots=True)
class Series:
    """What the checks found: each symbol's bar length, and the gaps accepted."""

    lengths: list[timedelta]
    warnings: tuple[str, ...]
    gaps: int
    missing_bars: int
    calendar: str | None


def moment(micros: int) -> datetime:
    """A UTC datetime from epoch microseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def check_series(starts: np.ndarray, codes: np.ndarray, names: list[str], rows: np.ndarray, labels: Rows,
                 periods: pa.ChunkedArray | None, period: str | None, zone_name: str, zone: tzinfo,
                 gaps: GapPolicy, calendar: str | None) -> Series:
    """Check every symbol's bars (``codes`` index ``names``; ``rows`` are the source rows, for messages)."""
    groups = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[groups], np.arange(len(names) + 1))
    days = _local_days(starts, zone_name)
    sessions = None
    if calendar is not None:
        first, last = moment(starts.min()).astimezone(zone).date(), moment(starts.max()).astimezone(zone).date()
        sessions = load_calendar(calendar, first, last)
    members_of = [groups[bounds[code]:bounds[code + 1]] for code in range(len(names))]
    for name, members in zip(names, members_of, strict=True):  # order first: a duplicate defeats inference
        times = starts[members]
        delta = np.diff(times)
        back = np.flatnonzero(delta <= 0)
        if len(back):
            raise _spacing_error(name, members, times, rows, labels, timedelta(0), int(back[0]), int(delta[back[0]]),
                                 False, False)
    found = [_period_of(name, members, starts, rows, labels, periods, period)
             for name, members in zip(names, members_of, strict=True)]
    known = [length for length in found if length is not None]
    if len(known) < len(found) and not known:
        name, members = names[found.index(None)], members_of[found.index(None)]
        raise BarFileError(labels.file, f"cannot infer the bar period of {name} from {len(members)} bar(s); pass it "
                                        "(--period 1m)")
    # A symbol with a single bar takes the shortest period the others show.
    lengths = [length if length is not None else min(known) for length in found]
    warnings: list[str] = []
    gap_count = missing_bars = 0
    for name, members, length in zip(names, members_of, lengths, strict=True):
        spaced = _check_spacing(name, members, starts, days, rows, labels, length)
        if sessions is not None:
            count, lacking = _check_sessions(name, members, starts, rows, labels, length, zone, sessions, gaps,
                                             warnings)
        else:
            count, lacking = len(spaced), sum(k for _, _, k in spaced)
            if spaced and gaps == "error":
                where, text, _ = spaced[0]
                raise BarFileError(labels.file, f"{text}; drop --gaps error to accept gaps, or name the exchange "
                                   "(--calendar XNYS) so that only bars missing inside its sessions count", where=where)
            if gaps == "warn":
                warnings.extend(f"{labels.file} {where}: {text}" for where, text, _ in spaced)
        gap_count += count
        missing_bars += lacking
    return Series(lengths, tuple(warnings), gap_count, missing_bars, sessions.name if sessions is not None else None)


def _local_days(starts: np.ndarray, zone_name: str) -> np.ndarray:
    """Each start's date in the data's zone, as days since 1970-01-01."""
    if zone_name.upper() == "UTC":
        return starts // _DAY_US
    local = pc.local_timestamp(pa.array(starts, pa.timestamp("us", zone_name)))
    return np.asarray(local.cast(pa.int64()).to_numpy(zero_copy_only=False)) // _DAY_US


def _period_of(name: str, members: np.ndarray, starts: np.ndarray, rows: np.ndarray, labels: Rows,
               periods: pa.ChunkedArray | None, period: str | None) -> timedelta | None:
    if periods is not None:
        texts = np.asarray(pc.utf8_trim_whitespace(periods.take(pa.array(members)).cast(pa.string()))
                           .to_numpy(zero_copy_only=False),
                           dtype=object)
        odd = np.flatnonzero(texts != texts[0])
        if len(odd):
            row = int(rows[members[odd[0]]])
            raise BarFileError(labels.file, f"period {texts[odd[0]]!r} differs from {texts[0]!r} earlier for {name}; "
                               "one symbol needs one bar period", where=labels.label(row), line=labels.number(row),
                               column="period")
        try:
            return parse_period(str(texts[0]))
        except ConfigurationError as exc:
            row = int(rows[members[0]])
            raise BarFileError(labels.file, str(exc), where=labels.label(row), line=labels.number(row),
                               column="period") from None
    if period is not None:
        return parse_period(period)
    deltas = np.diff(starts[members])
    positive = deltas[deltas > 0]
    if not len(positive):
        return None
    values, first, counts = np.unique(positive, return_index=True, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    chosen = values[best[np.argmin(first[best])]]  # ties: the spacing seen first, as Counter.most_common
    return timedelta(microseconds=int(chosen))


def _check_spacing(name: str, members: np.ndarray, starts: np.ndarray, days: np.ndarray, rows: np.ndarray,
                   labels: Rows, length: timedelta) -> list[tuple[str, str, int]]:
    """Refuse duplicate, unsorted and overlapping bars; return each gap as (where, message, bars missing or 0)."""
    times = starts[members]
    if len(times) < 2:
        return []
    delta = np.diff(times)
    step_us = length // timedelta(microseconds=1)
    whole_days = length >= DAILY and length % timedelta(days=1) == timedelta(0)
    weekly = whole_days and length.days % 7 == 0
    if whole_days:
        local = days[members]
        placed = (local + _WEEK_OFFSET) // 7 if weekly else local
        step = length.days // 7 if weekly else length.days
        apart = np.diff(placed)
        regular = apart == step
        weekdays_only = not weekly and bool(np.all((local + _THURSDAY) % 7 < 5))
    else:
        apart, step = delta, step_us
        regular = delta == step_us
        weekdays_only = False
    odd = np.flatnonzero(~regular)
    if not len(odd):
        return []
    bad = (delta[odd] <= 0) | (apart[odd] < step)
    if bad.any():
        k = int(odd[np.argmax(bad)])
        raise _spacing_error(name, members, times, rows, labels, length, k, int(delta[k]), whole_days, weekly)
    found: list[tuple[str, str, int]] = []
    missing: np.ndarray
    if weekdays_only:
        before = local[odd].astype("datetime64[D]") + 1
        missing = np.busday_count(before, local[odd + 1].astype("datetime64[D]"))
        keep = missing > 0  # a weekend, in data that has no weekend bars, is no gap
        odd, missing = odd[keep], missing[keep]
    else:
        missing = np.where(apart[odd] % step == 0, apart[odd] // step - 1, 0)
    for k, lacking in zip(odd.tolist(), missing.tolist(), strict=True):
        missed = (f"{lacking} missing weekday bar(s)" if weekdays_only else
                  f"{lacking} missing bar(s)" if lacking else "misaligned")
        a, b = int(rows[members[k]]), int(rows[members[k + 1]])
        found.append((labels.label(b), f"{name} at {moment(times[k + 1]).isoformat()} follows {labels.label(a)} "
                      f"after {timedelta(microseconds=int(delta[k]))}, a gap ({missed}) in {format_period(length)} "
                      "bars", int(lacking)))
    return found


def _spacing_error(name: str, members: np.ndarray, times: np.ndarray, rows: np.ndarray, labels: Rows,
                   length: timedelta, k: int, delta: int, whole_days: bool, weekly: bool) -> BarFileError:
    a, b = int(rows[members[k]]), int(rows[members[k + 1]])
    earlier, later = moment(times[k]).isoformat(), moment(times[k + 1]).isoformat()
    where = f"{name} at {later}"
    if delta == 0:
        problem = f"{where} duplicates the timestamp of {labels.label(a)}; keep one bar per timestamp"
    elif delta < 0:
        problem = f"{where} comes before {labels.label(a)} ({earlier}); sort the rows by time"
    elif whole_days:
        unit = "week" if weekly else "day"
        problem = (f"{where} falls in the same {unit} as {labels.label(a)} ({earlier}) for {format_period(length)} "
                   f"bars; keep one bar per {unit}")
    else:
        problem = (f"{where} starts {timedelta(microseconds=delta)} after {labels.label(a)}, less than the bar period "
                   f"{format_period(length)}; bars overlap")
    return BarFileError(labels.file, problem, where=labels.label(b), line=labels.number(b))


def _check_sessions(name: str, members: np.ndarray, starts: np.ndarray, rows: np.ndarray, labels: Rows,
                    length: timedelta, zone: tzinfo, calendar: Calendar, gaps: GapPolicy,
                    warnings: list[str]) -> tuple[int, int]:
    """Report the bars ``calendar`` expects that ``name`` lacks; returns (gaps, bars missing)."""
    src = labels.file
    times = [t.replace(tzinfo=UTC) for t in starts[members].astype("datetime64[us]").tolist()]
    report = check_sessions(times, length, zone, calendar)
    lines = [f"{src}: {name} has {lacking} of the {expected} {format_period(length)} bar(s) {calendar.name} expects "
             f"in its session of {day.isoformat()} missing, the first at {first.isoformat()}"
             for day, lacking, expected, first in report.missing]
    if lines and gaps == "error":
        raise BarFileError(src, f"{lines[0].removeprefix(src + ': ')}; drop --gaps error to accept gaps")
    warnings.extend(lines[:MAX_SESSION_WARNINGS])
    if len(lines) > MAX_SESSION_WARNINGS:
        warnings.append(f"{src}: {name}: {len(lines) - MAX_SESSION_WARNINGS} more session(s) of {calendar.name} "
                        "with missing bars")
    if report.outside:
        row = int(rows[members[report.outside[0]]])
        warnings.append(f"{src}: {len(report.outside)} bar(s) of {name} fall outside {calendar.name}'s sessions, "
                        f"the first at {labels.label(row)} ({times[report.outside[0]].isoformat()}); check --tz and "
                        "that timestamps are bar starts")
    return report.gaps, report.missing_bars
