"""Trading calendars: how many bars a year holds (annualisation), and which bars an exchange's sessions expect.

Without a calendar the number of periods per year is read from the data itself (``periods_per_year``): the
median spacing of the bars says whether they are monthly (12), weekly (52), daily (252 when the data has no
weekend bars, as equities; 365 when it trades every day, as crypto) or intraday (those days times the median
number of bars per day). With an exchange calendar from ``exchange-calendars`` (``XNYS``, ``XLON`` …, computed
locally, no network), the days per year are the calendar's sessions per year and an intraday day is the
calendar's session length; ``check_sessions`` then finds the bars a file lacks inside the calendar's sessions.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from ingenium.errors import ConfigurationError

DAY = timedelta(days=1)
#: Spacing from which bars are daily (a DST change makes a day 23 hours), weekly and monthly.
DAILY, WEEKLY, MONTHLY = timedelta(hours=20), timedelta(days=5), timedelta(days=28)
#: Share of weekend bars above which data trades every day: backtesting.py's threshold (60% of 2/7).
WEEKEND_SHARE = 0.6 * 2 / 7


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session: its date, open and close (UTC) and the lunch break, if any."""

    day: date
    open: datetime
    close: datetime
    break_start: datetime | None = None
    break_end: datetime | None = None

    @property
    def length(self) -> timedelta:
        """Time the market is open, the break excluded."""
        pause = self.break_end - self.break_start if self.break_start and self.break_end else timedelta(0)
        return self.close - self.open - pause

    def labels(self, step: timedelta) -> list[datetime]:
        """Start times of the ``step`` bars of this session (none starts inside the break)."""
        out: list[datetime] = []
        moment = self.open
        while moment < self.close:
            if not (self.break_start and self.break_end and self.break_start <= moment < self.break_end):
                out.append(moment)
            moment += step
        return out


@dataclass(frozen=True, slots=True)
class Calendar:
    """The sessions of one exchange over whole years.

    Attributes:
        name: The exchange-calendars code (``XNYS``).
        sessions: Sessions in date order, from January 1 of the first year through December 31 of the last.

    """

    name: str
    sessions: tuple[Session, ...]

    @property
    def per_year(self) -> float:
        """Sessions per year: the mean over the whole years held."""
        years = {s.day.year for s in self.sessions}
        return len(self.sessions) / len(years) if years else 0.0

    def between(self, first: date, last: date) -> list[Session]:
        """Sessions dated from ``first`` through ``last``."""
        return [s for s in self.sessions if first <= s.day <= last]


def calendar_code(name: str) -> str:
    """The exchange-calendars code for ``name`` (``xnys`` → ``XNYS``); raises ``ConfigurationError`` if unknown."""
    code = name.strip().upper()
    if code not in _names():
        raise ConfigurationError(f"unknown exchange calendar {name!r}; use an exchange-calendars code such as XNYS, "
                                 "XLON, XTKS or XHKG")
    return code


@functools.cache
def _names() -> frozenset[str]:
    try:
        import exchange_calendars
    except ImportError:  # pragma: no cover - a dependency of ingenium; the message is for broken installs
        raise ConfigurationError("--calendar needs exchange-calendars: pip install exchange-calendars") from None
    return frozenset(exchange_calendars.get_calendar_names(include_aliases=True))


def load_calendar(name: str, first: date, last: date) -> Calendar:
    """Load the sessions of exchange ``name`` for the whole years from ``first`` to ``last``.

    Raises:
        ConfigurationError: the name is not an exchange-calendars code, or the years are outside its range.

    """
    return _load(calendar_code(name), first.year, last.year)


@functools.lru_cache(maxsize=16)  # a sweep's runs, and the loading and annualising of one run, share it
def _load(code: str, first: int, last: int) -> Calendar:
    import exchange_calendars  # present: calendar_code found the name in it

    try:
        with warnings.catch_warnings():
            # exchange-calendars uses pandas APIs that pandas 3 deprecates; that is for its maintainers, not ours.
            warnings.simplefilter("ignore", DeprecationWarning)
            calendar = exchange_calendars.get_calendar(code, start=f"{first}-01-01", end=f"{last}-12-31")
            sessions = _sessions(calendar.schedule)
    except (exchange_calendars.errors.CalendarError, ValueError) as exc:
        raise ConfigurationError(f"calendar {code} cannot cover {first}-{last}: {exc}") from None
    return Calendar(code, tuple(sessions))


def _sessions(schedule: Any) -> list[Session]:
    def utc(value: Any) -> datetime | None:
        return None if value is None or value != value else value.to_pydatetime().astimezone(UTC)  # NaT != NaT

    out: list[Session] = []
    for day, opens, breaks, resumes, closes in zip(schedule.index, schedule["open"], schedule["break_start"],
                                                   schedule["break_end"], schedule["close"], strict=True):
        start, end = utc(opens), utc(closes)
        assert start is not None and end is not None  # every session opens and closes
        out.append(Session(day.date(), start, end, utc(breaks), utc(resumes)))
    return out


def week_of(day: date) -> int:
    """Number of the Monday-to-Sunday week ``day`` is in (day 1 of the proleptic calendar was a Monday)."""
    return (day.toordinal() - 1) // 7


#: Consecutive pairs ``spacing`` looks at, spread evenly over the data (a million-bar run needs no more).
SAMPLE = 10_000


def spacing(times: Sequence[datetime]) -> timedelta | None:
    """The median distance between consecutive distinct times (of up to ``SAMPLE`` pairs spread evenly over them).

    ``None`` with fewer than two distinct times.
    """
    stride = max(1, (len(times) - 1) // SAMPLE)
    steps = [times[i + 1] - times[i] for i in range(0, len(times) - 1, stride) if times[i + 1] > times[i]]
    if not steps and len(times) > 1 and times[-1] > times[0]:
        steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median_low(steps) if steps else None


def bars_per_day(times: Sequence[datetime]) -> dict[date, int]:
    """How many of the (sorted) ``times`` fall on each UTC date that has any: one binary search per day."""
    counts: dict[date, int] = {}
    day, last, low = times[0].date(), times[-1].date(), 0
    while day <= last:
        high = bisect.bisect_left(times, datetime.combine(day + DAY, datetime.min.time(), UTC), low)
        if high > low:
            counts[day] = high - low
        day, low = day + DAY, high
    return counts


def trades_weekends(per_day: dict[date, int]) -> bool:
    """Whether the bars fall on weekends often enough to be those of a seven-day market."""
    total = sum(per_day.values())
    weekend = sum(count for day, count in per_day.items() if day.weekday() >= 5)
    return total > 0 and weekend / total > WEEKEND_SHARE


def periods_per_year(times: Sequence[datetime], calendar: Calendar | None = None) -> float | None:
    """Bars per year of data labelled ``times`` (in time order), for annualising per-bar statistics.

    Monthly bars give 12, weekly 52. Daily bars give the calendar's sessions per year, or without a calendar 252
    (at most 60% of 2/7 of the bars on a Saturday or Sunday) or 365. Intraday bars give those days times the bars
    in a day: the calendar's mean session length over the data's span divided by the bar spacing, or without a
    calendar the median number of bars per UTC date. ``None`` with fewer than two distinct times.
    """
    step = spacing(times)
    if step is None:
        return None
    if step >= MONTHLY:
        return 12.0
    if step >= WEEKLY:
        return 52.0
    per_day = bars_per_day(times)
    seven_days = calendar is None and trades_weekends(per_day)
    days = calendar.per_year if calendar is not None else 365.0 if seven_days else 252.0
    if step >= DAILY:
        return days
    if calendar is not None:
        sessions = [s for s in calendar.between(times[0].date() - DAY, times[-1].date() + DAY)
                    if s.close > times[0] and s.open <= times[-1]]  # the sessions the data spans
        if sessions:
            return days * (sum((s.length for s in sessions), timedelta(0)) / len(sessions)) / step
    return days * statistics.median(per_day.values())


@dataclass(frozen=True, slots=True)
class SessionGaps:
    """What ``check_sessions`` found for one symbol.

    Attributes:
        missing: Per session with missing bars: (session date, bars missing, bars expected, first missing start).
        gaps: Runs of consecutive expected bars that are missing.
        outside: Indices (into the symbol's starts) of bars that fall in no session.

    """

    missing: list[tuple[date, int, int, datetime]]
    gaps: int
    outside: list[int]

    @property
    def missing_bars(self) -> int:
        """Expected bars the data lacks."""
        return sum(count for _, count, _, _ in self.missing)


def check_sessions(starts: Sequence[datetime], step: timedelta, zone: tzinfo, calendar: Calendar) -> SessionGaps:
    """Compare one symbol's bar starts (sorted) with the bars ``calendar`` expects from the first to the last.

    Intraday bars are expected at the session's open and every ``step`` after it until the close (none in a
    break). A daily bar is matched to the session of its date in ``zone`` (the zone naive timestamps were read
    in), a weekly bar to the week (Monday to Sunday) of a session.
    """
    first, last = starts[0].astimezone(zone).date(), starts[-1].astimezone(zone).date()
    sessions = calendar.between(first, last)
    expected: list[tuple[date, list[Any]]]
    present: list[Any]
    if step >= WEEKLY:
        weeks = {week_of(s.day): s.day for s in reversed(sessions)}  # week → its first session
        expected = [(day, [week]) for week, day in sorted(weeks.items())]
        present = [week_of(t.astimezone(zone).date()) for t in starts]
    elif step >= DAILY:
        expected = [(s.day, [s.day]) for s in sessions]
        present = [t.astimezone(zone).date() for t in starts]
    else:
        expected = [(s.day, s.labels(step)) for s in sessions]
        expected = [(day, [t for t in labels if starts[0] <= t <= starts[-1]]) for day, labels in expected]
        present = list(starts)
    have = set(present)
    missing: list[tuple[date, int, int, datetime]] = []
    gaps, run = 0, False
    for day, labels in expected:
        lacking = [label for label in labels if label not in have]
        if lacking:
            first_missing = lacking[0]
            when = first_missing if isinstance(first_missing, datetime) else datetime.combine(day, datetime.min.time(),
                                                                                               zone).astimezone(UTC)
            missing.append((day, len(lacking), len(labels), when))
        for label in labels:
            absent = label not in have
            gaps += absent and not run
            run = absent
    known = {label for _, labels in expected for label in labels}
    outside = [i for i, key in enumerate(present) if key not in known]
    return SessionGaps(missing, gaps, outside)
