"""Small components with known behaviour, to test the engine without depending on services/."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ingenium.component import Params
from ingenium.events import (
    DataEvent,
    ExecutionEvent,
    ExecutionUpdate,
    Ohlc,
    OrderEvent,
    Side,
    SignalEvent,
    SignalType,
)
from ingenium.executor import Executor
from ingenium.portfolio import Portfolio
from ingenium.strategy import Strategy


class BandParams(Params):
    low: Decimal = Decimal(95)
    high: Decimal = Decimal(105)


class Band(Strategy[BandParams]):
    """Long when the close falls below ``low``, short when it rises above ``high`` (once per crossing)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state: dict[str, str] = {}

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        close = event.bar.close
        zone = "low" if close < self.params.low else "high" if close > self.params.high else "mid"
        previous, self.state[event.symbol] = self.state.get(event.symbol), zone
        if zone == previous or zone == "mid":
            return None
        return self.long(event.symbol, close) if zone == "low" else self.short(event.symbol, close)


class AsyncBand(Band):
    """The same strategy with an async handler, for the engine's async path."""

    async def on_data(self, event: DataEvent) -> SignalEvent | None:  # type: ignore[override]
        return Band.on_data(self, event)


class FixedParams(Params):
    quantity: Decimal = Decimal(10)
    cash: Decimal = Decimal(10_000)


class Fixed(Portfolio[FixedParams]):
    """Goes long ``quantity`` on a long signal when flat, back to flat on a short signal (long only)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.position: dict[str, Decimal] = {}
        self.pending: set[str] = set()

    def on_signal(self, event: SignalEvent) -> OrderEvent | None:
        held = self.position.get(event.symbol, Decimal(0))
        if event.symbol in self.pending:
            return None
        if event.signal is SignalType.LONG and held == 0:
            self.pending.add(event.symbol)
            return self.order(event.symbol, Side.BUY, self.params.quantity, signal=event)
        if event.signal is SignalType.SHORT and held > 0:
            self.pending.add(event.symbol)
            return self.order(event.symbol, Side.SELL, held, signal=event)
        return None

    def on_execution(self, event: ExecutionEvent) -> None:
        if event.is_fill and event.side is not None:
            self.position[event.symbol] = self.position.get(event.symbol, Decimal(0)) + event.quantity * event.side.sign
        if event.leaves_quantity == 0:
            self.pending.discard(event.symbol)


class BrokerParams(Params):
    fill_at: Literal["next_open", "close"] = "next_open"
    commission_per_share: Decimal = Decimal(0)


class Broker(Executor[BrokerParams]):
    """Fills market orders whole: at the next bar's open, or at the last close; dated by that bar's label."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last: dict[str, Ohlc] = {}
        self.waiting: list[OrderEvent] = []

    def _fill(self, order: OrderEvent, price: Decimal, bar: Ohlc) -> ExecutionEvent:
        return self.execution(order, ExecutionUpdate.FILLED, quantity=order.quantity, price=price,
                              avg_price=price, commission=order.quantity * self.params.commission_per_share,
                              executed_at=bar.timestamp)

    def on_data(self, event: DataEvent) -> list[ExecutionEvent]:
        self.last[event.symbol] = event.bar
        ready = [o for o in self.waiting if o.symbol == event.symbol]
        self.waiting = [o for o in self.waiting if o.symbol != event.symbol]
        return [self._fill(order, event.bar.open, event.bar) for order in ready]

    def on_order(self, event: OrderEvent) -> ExecutionEvent | None:
        if self.params.fill_at == "close":
            bar = self.last[event.symbol]
            return self._fill(event, bar.close, bar)
        self.waiting.append(event)
        return None


STRATEGY = "tests.backtest.components:Band"
PORTFOLIO = "tests.backtest.components:Fixed"
EXECUTOR = "tests.backtest.components:Broker"


class Exploding(Band):
    """Fails on the third bar, like a strategy with a bug."""

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        if event.bar.close == Decimal(94):
            raise ArithmeticError("bug in the strategy")
        return super().on_data(event)


class FlawedParams(Params):
    flaw: Literal["float_price", "bad_symbol", "naive_time"] = "float_price"


class Flawed(Strategy[FlawedParams]):
    """Builds, on its first bar, a signal live validation refuses: a float price, a bad symbol or a naive time."""

    def on_data(self, event: DataEvent) -> SignalEvent:
        flaw = self.params.flaw
        if flaw == "float_price":
            return self.long(event.symbol, 100.5)  # type: ignore[arg-type]  # the bug under test
        if flaw == "bad_symbol":
            return self.long("not a symbol", event.bar.close)
        return self.build_event(SignalEvent, id=self.next_id("signal"), timestamp=datetime(2024, 3, 1, 14, 31),
                                symbol=event.symbol, signal=SignalType.LONG, strategy_id=self.name,
                                price=event.bar.close)
