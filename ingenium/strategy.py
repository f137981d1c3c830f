"""``Strategy``: turns market data into signals."""

from __future__ import annotations

from decimal import Decimal

from ingenium.component import Component, ParamsT
from ingenium.events import SignalEvent, SignalType


class Strategy(Component[ParamsT]):
    """Subclass and implement ``on_data(self, event)``; return ``self.long(...)``/``self.short(...)`` or nothing.

    Example::

        class Breakout(Strategy[BreakoutParams]):
            def on_data(self, event: DataEvent) -> SignalEvent | None:
                if event.bar.close > self.params.level:
                    return self.long(event.symbol, event.bar.close)
                return None
    """

    kind = "strategy"

    def signal(self, symbol: str, signal: SignalType, price: Decimal | None = None) -> SignalEvent:
        """A signal from this strategy, with an id derived from the data event being handled."""
        return self.build_event(
            SignalEvent,
            id=self.next_id("signal"),
            timestamp=self.clock.now(),
            symbol=symbol,
            signal=signal,
            strategy_id=self.name,
            price=price,
        )

    def long(self, symbol: str, price: Decimal | None = None) -> SignalEvent:
        """A ``ingenium.signal.long`` signal."""
        return self.signal(symbol, SignalType.LONG, price)

    def short(self, symbol: str, price: Decimal | None = None) -> SignalEvent:
        """A ``ingenium.signal.short`` signal."""
        return self.signal(symbol, SignalType.SHORT, price)
