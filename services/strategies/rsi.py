"""RSI reversion, the original Ingenium's example: long when oversold, short when overbought.

Run it live with ``ingenium run services.strategies.rsi:RsiReversion --param window=14 --param lower=30``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, model_validator

from ingenium.component import Params
from ingenium.events import DataEvent, SignalEvent
from ingenium.per_symbol import per_symbol
from ingenium.strategy import Strategy
from services.indicators import RelativeStrength


class RsiReversionParams(Params):
    """RSI window and the two thresholds."""

    window: int = Field(default=14, ge=1, le=10_000, description="Price changes in Wilder's RSI.")
    lower: Decimal = Field(default=Decimal(30), gt=0, lt=100, description="Oversold below this RSI: go long.")
    upper: Decimal = Field(default=Decimal(70), gt=0, lt=100, description="Overbought above this RSI: go short.")

    @model_validator(mode="after")
    def _lower_below_upper(self) -> Self:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower}) must be smaller than upper ({self.upper})")
        return self


class RsiReversion(Strategy[RsiReversionParams]):
    """Emits ``long`` when a symbol's RSI falls below ``lower`` and ``short`` when it rises above ``upper``.

    A signal is emitted when the RSI *enters* a zone, not on every bar it stays there, so a long oversold
    stretch gives one signal.
    """

    @per_symbol
    def rsi(self) -> RelativeStrength:
        """A symbol's RSI, made on its first bar."""
        return RelativeStrength(self.params.window)

    @per_symbol
    def zone(self) -> int:
        """Where a symbol's RSI was last: -1 oversold, 1 overbought, 0 between (also before the first value)."""
        return 0

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        """Update the symbol's RSI with the bar's close and signal when it enters a zone."""
        bar = event.ohlc
        if bar is None:
            return None
        value = self.rsi[event.symbol].update(bar.close)
        if value is None:
            return None
        zone = -1 if value < self.params.lower else 1 if value > self.params.upper else 0
        previous = self.zone[event.symbol]
        self.zone[event.symbol] = zone
        if zone == previous or zone == 0:
            return None
        return self.long(event.symbol, bar.close) if zone < 0 else self.short(event.symbol, bar.close)
