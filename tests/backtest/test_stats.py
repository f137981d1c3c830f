"""Statistics against values worked out by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ingenium.backtest.account import Account, RoundTrip
from ingenium.backtest.stats import YEAR, compute_stats
from ingenium.events import ExecutionUpdate
from ingenium.testing import fill, order

START = datetime(2023, 1, 1, tzinfo=UTC)


def days(n: int) -> datetime:
    return START + timedelta(days=n)


def test_curve_statistics() -> None:
    equity = [Decimal(v) for v in (110, 99, 99, 121, 110)]
    times = [days(i + 1) for i in range(5)]
    trips = [RoundTrip("a", "long", days(0), days(1), Decimal(5)),
             RoundTrip("a", "short", days(1), days(2), Decimal(-1))]
    stats = compute_stats(START, times, equity, Decimal(100), trips, fills=4, exposed=3)
    returns = [0.1, -0.1, 0.0, 2 / 9, -1 / 11]
    mean = sum(returns) / 5
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / 4)
    per_year = 252  # daily bars, Monday 2 to Friday 6 January: no weekend bars, so 252 bars a year
    assert stats.periods_per_year == per_year
    assert stats.total_return == pytest.approx(0.1)
    assert stats.cagr == pytest.approx(1.1 ** (1 / (timedelta(days=5) / YEAR)) - 1)
    assert stats.volatility == pytest.approx(std * math.sqrt(per_year))
    assert stats.sharpe == pytest.approx(mean / std * math.sqrt(per_year))
    downside = math.sqrt((0.01 + (1 / 11) ** 2) / 5)
    assert stats.sortino == pytest.approx(mean / downside * math.sqrt(per_year))
    # Peak 110 on day 1, trough 99 (-10%), regained at 121 on day 4; then 110 is below 121 until the end.
    assert stats.max_drawdown == pytest.approx(-0.1)
    assert stats.max_drawdown_duration == timedelta(days=3)
    assert stats.longest_drawdown == timedelta(days=3)
    assert (stats.trades, stats.win_rate, stats.fills, stats.exposure) == (2, 0.5, 4, 0.6)
    assert stats.as_dict()["max_drawdown_duration_seconds"] == 3 * 86400
    assert stats.as_dict()["final_equity"] == "110"


def test_flat_or_empty_runs_have_no_ratios() -> None:
    flat = compute_stats(START, [days(1), days(2)], [Decimal(100)] * 2, Decimal(100), [], 0, 0)
    assert (flat.sharpe, flat.sortino, flat.win_rate, flat.max_drawdown) == (None, None, None, 0.0)
    empty = compute_stats(START, [], [], Decimal(100), [], 0, 0)
    assert empty.total_return == 0.0 and empty.cagr is None and empty.exposure == 0.0


def test_account_round_trips_and_flips() -> None:
    account = Account(Decimal(1000))
    buy = order(quantity=10)
    account.on_execution(fill(buy, 10, 10, commission=1))
    sell = order(side=buy.side.SELL, quantity=15)
    account.on_execution(fill(sell, 15, 12, commission=1))  # closes the long at +20, opens a 5 short
    assert account.positions == {"aapl": Decimal(-5)}
    cover = order(quantity=5)
    account.on_execution(fill(cover, 5, 11))
    assert [(t.direction, t.pnl) for t in account.round_trips] == [("long", Decimal(18)), ("short", Decimal(5))]
    assert account.cash == Decimal(1000 - 100 - 1 + 180 - 1 - 55)
    account.on_execution(fill(cover, 0, 0, update=ExecutionUpdate.CANCELED))  # not a fill: changes nothing
    assert len(account.fills) == 3
