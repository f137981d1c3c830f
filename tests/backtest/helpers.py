"""Bars and configs shared by the backtest tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingenium.backtest import BacktestConfig, Bars
from ingenium.bars import bars_from_columns
from ingenium.events import DataEvent
from ingenium.ingestor import Ingestor
from tests.backtest.components import EXECUTOR, PORTFOLIO, STRATEGY

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def make_bars(closes: list[str | int], *, symbol: str = "acme", opens: list[str | int] | None = None,
              start: datetime = T0) -> Bars:
    """One-minute bars with the given closes; each bar opens at ``opens[i]`` (default: the previous close)."""
    n = len(closes)
    opens = opens or [closes[max(i - 1, 0)] for i in range(n)]
    o = [Decimal(x) for x in opens]
    c = [Decimal(x) for x in closes]
    columns: dict[str, list[Any]] = {
        "timestamp": [start + timedelta(minutes=i) for i in range(n)],
        "open": o, "close": c,
        "high": [max(a, b) for a, b in zip(o, c, strict=True)],
        "low": [min(a, b) for a, b in zip(o, c, strict=True)],
        "volume": [Decimal(100)] * n,
    }
    return bars_from_columns(columns, symbol=symbol, period="1m", source="memory")


def config(**overrides: Any) -> BacktestConfig:
    values: dict[str, Any] = {"strategy": STRATEGY, "portfolio": PORTFOLIO, "executor": EXECUTOR,
                              "cash": Decimal(10_000)}
    values.update(overrides)
    return BacktestConfig(**values)


def write_csv(path: Path, bars: Bars) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(len(bars)):
        lines.append(f"{bars.starts[i].isoformat()},{bars.opens[i]},{bars.highs[i]},{bars.lows[i]},"
                     f"{bars.closes[i]},{bars.volumes[i]}")
    path.write_text("\n".join(lines) + "\n")
    return path


class Recorder(Ingestor):
    """Builds bars as the historical ingestor does (ids from symbol, period and start)."""

    async def run(self) -> None:
        """Unused: the test publishes the events itself."""


def recorded(bars: Bars) -> list[DataEvent]:
    maker = Recorder()
    return [maker.bar(bars.symbols[i], bars.starts[i], open=bars.opens[i], high=bars.highs[i], low=bars.lows[i],
                      close=bars.closes[i], volume=bars.volumes[i], period=bars.periods[i]) for i in range(len(bars))]
