"""SMA crossover: long when the fast average crosses above the slow one, short when it crosses below.

Run it live with ``ingenium run services.strategies.sma_cross:SmaCross --param fast=10 --param slow=30``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import Field, model_validator

from ingenium.component import Params
from ingenium.events import DataEvent, SignalEvent
from ingenium.strategy import Strategy
from services.indicators import MovingAverage


class SmaCrossParams(Params):
    """Windows of the two moving averages of the close."""

    fast: int = Field(default=10, ge=1, le=10_000, description="Bars in the fast moving average.")
    slow: int = Field(default=30, ge=2, le=10_000, description="Bars in the slow moving average.")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


@dataclass(slots=True)
class _SymbolState:
    fast: MovingAverage
    slow: MovingAverage
    above: bool | None = field(default=None)


class SmaCross(Strategy):
    """Emits ``ingenium.signal.long`` when SMA(fast) crosses above SMA(slow), ``short`` when it crosses below.

    Each symbol has its own pair of averages. The averages are compared through their exact running sums
    (``fast_sum * slow > slow_sum * fast``), so a crossing never depends on rounding. No signal is emitted until
    both averages are full and the relation has actually changed.
    """

    params_model = SmaCrossParams
    params: SmaCrossParams

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._state: dict[str, _SymbolState] = {}

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        """Update the symbol's averages with the bar's close and signal on a crossing."""
        bar = event.ohlc
        if bar is None:
            return None
        state = self._state.get(event.symbol)
        if state is None:
            state = _SymbolState(MovingAverage(self.params.fast), MovingAverage(self.params.slow))
            self._state[event.symbol] = state
        state.fast.update(bar.close)
        state.slow.update(bar.close)
        if not state.slow.ready:
            return None
        fast_scaled = state.fast.total * self.params.slow
        slow_scaled = state.slow.total * self.params.fast
        if fast_scaled == slow_scaled:
            return None
        above = fast_scaled > slow_scaled
        was_above, state.above = state.above, above
        if was_above is None or was_above == above:
            return None
        return self.long(event.symbol, bar.close) if above else self.short(event.symbol, bar.close)
