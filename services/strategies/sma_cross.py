"""SMA crossover: long when the fast average crosses above the slow one, short when it crosses below.

Run it live with ``ingenium run services.strategies.sma_cross:SmaCross --param fast=10 --param slow=30``.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from ingenium.component import Params
from ingenium.events import DataEvent, SignalEvent
from ingenium.per_symbol import per_symbol
from ingenium.strategy import Strategy
from services.indicators import MovingAverageCross


class SmaCrossParams(Params):
    """Windows of the two moving averages of the close."""

    fast: int = Field(default=10, ge=1, le=10_000, description="Bars in the fast moving average.")
    slow: int = Field(default=30, ge=2, le=10_000, description="Bars in the slow moving average.")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


class SmaCross(Strategy[SmaCrossParams]):
    """Emits ``ingenium.signal.long`` when SMA(fast) crosses above SMA(slow), ``short`` when it crosses below.

    Each symbol has its own pair of averages. The averages are compared through their exact running sums
    (``fast_sum * slow > slow_sum * fast``), so a crossing never depends on rounding. No signal is emitted until
    both averages are full and the relation has actually changed.
    """

    @per_symbol
    def cross(self) -> MovingAverageCross:
        """A symbol's pair of averages, made on its first bar."""
        return MovingAverageCross(self.params.fast, self.params.slow)

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        """Update the symbol's averages with the bar's close and signal on a crossing."""
        bar = event.ohlc
        if bar is None:
            return None
        symbol = event.symbol
        direction = self.cross[symbol].update(bar.close)
        if not direction:
            return None
        return self.long(symbol, bar.close) if direction > 0 else self.short(symbol, bar.close)
