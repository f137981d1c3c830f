"""Performance statistics of a run: returns, risk, drawdowns and trades, from the equity curve and fills.

Ratios are floats (statistics, not money). Annualisation follows the data's own calendar: the number of
periods per year comes from the bars' spacing and days (``ingenium.calendars.periods_per_year``:
252 for daily equities, 365 for daily crypto, sessions × bars per session intraday) or from the exchange
calendar the run names, so one-minute bars of a 24/7 market and of a 6.5-hour session are both annualised
correctly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from ingenium.backtest.account import RoundTrip
from ingenium.backtest.curve import Column, floats, micros
from ingenium.calendars import periods_per_year as infer_periods_per_year

YEAR = timedelta(days=365.25)
CHUNK = 65_536
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Stats:
    """The statistics ``summary.json`` reports; ``None`` where the data cannot define one.

    Attributes:
        start: Start of the first bar.
        end: End of the last bar (the last equity point is labelled with its start).
        initial_equity: Starting cash.
        final_equity: Equity after the last bar.
        total_return: Final over initial equity, minus one.
        cagr: Compound annual growth rate.
        volatility: Annualised standard deviation of per-bar returns.
        sharpe: Annualised mean over standard deviation of per-bar returns (risk-free rate 0).
        sortino: Annualised mean over downside deviation of per-bar returns.
        max_drawdown: Deepest fall from a peak, as a negative fraction.
        max_drawdown_duration: From the peak before the deepest fall until equity regained it (or the end).
        longest_drawdown: The longest time spent below a previous peak.
        trades: Round trips closed (flat to flat, or flips).
        win_rate: Share of closed round trips with a positive net result.
        fills: Executions that moved quantity.
        exposure: Share of bars with an open position.
        periods_per_year: The annualisation factor used.

    """

    start: datetime
    end: datetime
    initial_equity: Decimal
    final_equity: Decimal
    total_return: float
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration: timedelta
    longest_drawdown: timedelta
    trades: int
    win_rate: float | None
    fills: int
    exposure: float
    periods_per_year: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return the statistics as JSON-ready values: decimals as strings, times RFC 3339, durations in seconds."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, Decimal):
                out[key] = str(value)
            elif isinstance(value, datetime):
                out[key] = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, timedelta):
                out[f"{key}_seconds"] = value.total_seconds()
            else:
                out[key] = value
        return out


def compute_stats(
    start: datetime, times: Sequence[datetime], equity: Sequence[Decimal], initial: Decimal,
    round_trips: Sequence[RoundTrip], fills: int, exposed: int, *, end: datetime | None = None,
    periods_per_year: float | None = None,
) -> Stats:
    """Compute ``Stats`` from an equity curve (one point per bar, labelled by its start) and the run's trades.

    ``end`` (the last bar's end) defaults to the last point's label; ``periods_per_year`` defaults to what
    ``periods_per_year`` infers from the labels.
    """
    final = equity[-1] if equity else initial
    end = end or (times[-1] if times else start)
    # Arrays, not lists of Python floats: a ten-million-bar curve stays a few buffers (the run's memory bound).
    values = _floats(float(initial), equity)
    before, after = values[:-1], values[1:]
    moving = before != 0.0
    # The same IEEE operations as on Python floats, in bulk; in place, so a long curve is not copied four times.
    returns = after / before if moving.all() else after[moving] / before[moving]
    returns -= 1.0
    years = (end - start) / YEAR
    per_year = periods_per_year if periods_per_year is not None else infer_periods_per_year(times)
    if not len(returns):
        per_year = None
    cagr = None
    if years > 0 and initial > 0 and final > 0:
        try:
            cagr = float(final / initial) ** (1.0 / years) - 1.0
        except OverflowError:
            cagr = None  # minutes of data annualised: no meaningful growth rate
    volatility = sharpe = sortino = None
    if per_year is not None and len(returns) > 1:
        mean = math.fsum(_each(returns)) / len(returns)
        # Python floats, a chunk at a time: fsum and ``**`` exactly as on a list; ``0.0 if r > 0.0 else r ** 2``
        # is ``min(r, 0.0) ** 2`` without a call per point (NaN included).
        std = math.sqrt(math.fsum((r - mean) ** 2 for r in _each(returns)) / (len(returns) - 1))
        downside = math.sqrt(math.fsum(0.0 if r > 0.0 else r ** 2 for r in _each(returns)) / len(returns))
        scale = math.sqrt(per_year)
        volatility = std * scale
        sharpe = mean / std * scale if std > 0 else None
        sortino = mean / downside * scale if downside > 0 else None
    depth, deepest, longest = _drawdowns(start, times, values)
    wins = sum(1 for trip in round_trips if trip.pnl > 0)
    return Stats(
        start=start, end=end, initial_equity=initial, final_equity=final,
        total_return=float(final / initial) - 1.0 if initial else 0.0,
        cagr=cagr, volatility=volatility, sharpe=sharpe, sortino=sortino,
        max_drawdown=depth, max_drawdown_duration=deepest, longest_drawdown=longest,
        trades=len(round_trips), win_rate=wins / len(round_trips) if round_trips else None,
        fills=fills, exposure=exposed / len(times) if times else 0.0, periods_per_year=per_year,
    )


def _floats(initial: float, equity: Sequence[Decimal]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """``initial`` then the equity curve as floats."""
    if isinstance(equity, Column):
        return floats(equity, initial)
    return np.array([initial, *(float(v) for v in equity)], dtype=np.float64)


def _micros(start: datetime, times: Sequence[datetime]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """``start`` then ``times`` as microseconds since the epoch."""
    first = (start - EPOCH) // MICROSECOND
    if isinstance(times, Column):
        return micros(times, first)
    return np.array([first, *((t - EPOCH) // MICROSECOND for t in times)], dtype=np.int64)


def _each(values: np.ndarray[Any, Any]) -> Iterator[Any]:
    """The array's values as Python numbers, a chunk at a time (no list of them all)."""
    for begin in range(0, len(values), CHUNK):
        yield from values[begin:begin + CHUNK].tolist()


def _drawdowns(
    start: datetime, times: Sequence[datetime], values: np.ndarray[Any, np.dtype[np.float64]]
) -> tuple[float, timedelta, timedelta]:
    """Deepest drawdown, how long its episode lasted, and the longest episode; ``values[0]`` is the initial equity."""
    moments = _micros(start, times)

    def between(a: int, b: int) -> timedelta:
        return timedelta(microseconds=int(moments[b] - moments[a]))

    peak, peak_at, below = float(values[0]), 0, False
    depth, deep_peak, deep_end = 0.0, 0, 0
    longest = timedelta(0)
    for index, value in enumerate(_each(values)):
        if index == 0:
            continue
        if value >= peak:
            if below:
                longest = max(longest, between(peak_at, index))
                if deep_peak == peak_at and deep_end == -1:
                    deep_end = index
            peak, peak_at, below = value, index, False
            continue
        below = True
        fall = value / peak - 1.0 if peak > 0 else 0.0
        if fall < depth:
            depth, deep_peak, deep_end = fall, peak_at, -1
    last = len(values) - 1
    if below:
        longest = max(longest, between(peak_at, last))
    deepest = between(deep_peak, deep_end if deep_end >= 0 else last)
    return depth, deepest, longest


_PERCENT = ("total_return", "cagr", "volatility", "max_drawdown", "win_rate", "exposure")


def display_rows(stats: Stats) -> list[tuple[str, str]]:
    """Return (label, text) pairs for people: percentages, two-decimal ratios, durations as h:mm:ss."""
    rows: list[tuple[str, str]] = []
    for key, value in asdict(stats).items():
        label = key.replace("_", " ")
        if value is None:
            text = "n/a"
        elif key in _PERCENT:
            text = f"{value:.2%}"
        elif isinstance(value, float):
            text = f"{value:,.2f}"
        elif isinstance(value, datetime):
            text = value.isoformat().replace("+00:00", "Z")
        else:
            text = str(value)
        rows.append((label, text))
    return rows
