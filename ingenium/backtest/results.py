"""``BacktestResult``: what a backtest or replay produced, as objects, pandas DataFrames, or files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingenium.backtest.account import Fill, RoundTrip
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.stats import Stats
from ingenium.errors import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd


def pandas_module() -> Any:
    """Import pandas, or say how to install it."""
    try:
        import pandas
    except ImportError:
        raise ConfigurationError("DataFrames need pandas: pip install pandas") from None
    return pandas


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BacktestResult:
    """The outcome of one run.

    Attributes:
        run_id: Identifies the run (its output directory and summary).
        kind: ``backtest`` or ``replay``.
        config: Components, parameters and costs the run used.
        source: Where the bars came from (a file, or a stream range).
        symbols: Symbols seen.
        bars: Data events handled.
        fills: Every fill, in order.
        round_trips: Closed round trips, in order.
        times: Label (start) of the bar of each equity point.
        equity: Equity at each of ``times``, at the bar's close.
        stats: Performance statistics.
        events: Events per stream during the run (data, signal, order, execution).
        warnings: Data problems accepted under the gap policy, and sessions with missing bars.
        gaps: Gaps in the data (runs of missing bars) that were accepted.
        missing_bars: Bars those gaps lack, where known.
        prices: Per symbol, the bar starts and closes that were fed (the report's price and buy-and-hold lines).

    """

    run_id: str
    kind: str
    config: BacktestConfig
    source: str
    symbols: Sequence[str]
    bars: int
    fills: Sequence[Fill]
    round_trips: Sequence[RoundTrip]
    times: Sequence[datetime]
    equity: Sequence[Decimal]
    stats: Stats
    events: dict[str, int]
    warnings: Sequence[str] = field(default=())
    gaps: int = 0
    missing_bars: int = 0
    prices: Mapping[str, tuple[Sequence[datetime], Sequence[Decimal]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Short on purpose: asyncio formats a finished task's result (in its SIGINT handler's repr), and a
        # million-point equity curve would take seconds to format.
        return (f"BacktestResult({self.kind} {self.run_id}: {self.bars} bars, {len(self.fills)} fills, "
                f"final equity {self.stats.final_equity})")

    def summary(self) -> dict[str, Any]:
        """Return what ``summary.json`` holds: the run's inputs and its statistics."""
        config = self.config.model_dump(mode="json")
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "config": config,
            "data": {"source": self.source, "bars": self.bars, "symbols": list(self.symbols),
                     "gaps": self.gaps, "missing_bars": self.missing_bars, "warnings": list(self.warnings)},
            "events": dict(self.events),
            "stats": self.stats.as_dict(),
        }

    def trades_frame(self) -> pd.DataFrame:
        """Return the fills as a DataFrame (timestamp, symbol, side, quantity, price, commission, order_id)."""
        return pandas_module().DataFrame(
            [(f.timestamp, f.symbol, f.side.value, f.quantity, f.price, f.commission, f.order_id) for f in self.fills],
            columns=["timestamp", "symbol", "side", "quantity", "price", "commission", "order_id"],
        )

    def equity_frame(self) -> pd.DataFrame:
        """Return the equity curve as a DataFrame indexed by bar (its start), with its drawdown."""
        pd = pandas_module()
        frame = pd.DataFrame({"equity": list(self.equity)}, index=pd.DatetimeIndex(list(self.times), name="timestamp"))
        values = frame["equity"].astype(float)
        frame["drawdown"] = values / values.cummax() - 1.0
        return frame

    def round_trips_frame(self) -> pd.DataFrame:
        """Return the closed round trips as a DataFrame (symbol, direction, opened, closed, pnl)."""
        return pandas_module().DataFrame(
            [(t.symbol, t.direction, t.opened, t.closed, t.pnl) for t in self.round_trips],
            columns=["symbol", "direction", "opened", "closed", "pnl"],
        )

    def write(self, directory: str | Path) -> Path:
        """Write ``trades.csv``, ``equity.csv``, ``summary.json`` and ``report.html`` into ``directory``."""
        from ingenium.backtest.writers import write_all

        return write_all(self, Path(directory))
