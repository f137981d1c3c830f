"""NautilusTrader as a peer of ``bench/backtest.py``: the same bars and SMA cross, market orders reversing on a cross.

Its own ``SimpleMovingAverage``s, a netting account, bar execution on a simulated venue, logging and risk checks
bypassed (its fastest setting). An order sent on a bar's close fills on the venue's book, which the next bar opens
at: the benchmark's walk opens each bar at the previous close, so the fill price is the next bar's open.
``run_nautilus`` returns ``None`` when ``nautilus_trader`` is not installed (``pip install '.[peers]'``).
"""

from __future__ import annotations

import importlib.util
import time
from datetime import datetime

FAST_SLOW = tuple[int, int]


def installed() -> bool:
    """Whether ``nautilus_trader`` can be imported."""
    return importlib.util.find_spec("nautilus_trader") is not None


def run_nautilus(opens: list[int], highs: list[int], lows: list[int], closes: list[int], start: datetime,
                 fast: int, slow: int) -> tuple[float, int] | None:
    """Seconds NautilusTrader's run took over the bars (cents) and the orders it sent; ``None`` if not installed."""
    if not installed():
        return None
    import pandas as pd
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, RiskEngineConfig, StrategyConfig
    from nautilus_trader.indicators import SimpleMovingAverage
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money
    from nautilus_trader.persistence.wranglers import BarDataWrangler
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    instrument = TestInstrumentProvider.equity(symbol="BENCH", venue="SIM")
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")

    class Cross(Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(StrategyConfig())
            self.fast, self.slow = SimpleMovingAverage(fast), SimpleMovingAverage(slow)
            self.above: bool | None = None
            self.unit = instrument.make_qty(100)
            self.double = instrument.make_qty(200)
            self.orders = 0

        def on_start(self) -> None:
            self.register_indicator_for_bars(bar_type, self.fast)
            self.register_indicator_for_bars(bar_type, self.slow)
            self.subscribe_bars(bar_type)

        def on_bar(self, bar: Bar) -> None:
            if not self.slow.initialized or self.fast.value == self.slow.value:
                return
            now = self.fast.value > self.slow.value
            if now != self.above:
                side = OrderSide.BUY if now else OrderSide.SELL
                quantity = self.unit if self.above is None else self.double  # open, or reverse the position
                self.submit_order(self.order_factory.market(instrument.id, side, quantity))
                self.orders += 1
            self.above = now

    index = pd.date_range(start, periods=len(closes), freq="1min")
    frame = pd.DataFrame({"open": opens, "high": highs, "low": lows, "close": closes,
                          "volume": [1_000_000] * len(closes)}, index=index, dtype="float64")
    frame[["open", "high", "low", "close"]] /= 100
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True),
                                                 risk_engine=RiskEngineConfig(bypass=True)))
    engine.add_venue(Venue("SIM"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                     starting_balances=[Money(10_000_000, USD)], base_currency=USD)
    engine.add_instrument(instrument)
    engine.add_data(bars)
    strategy = Cross()
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, strategy.orders
