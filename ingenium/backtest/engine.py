"""The engine: the live strategy, portfolio and executor on an in-memory bus and a simulated clock.

Bars are handed to the components in time order. Before each bar the clock moves to the bar's end (when the
bar became known), the bar goes to the executor, then the portfolio, then the strategy (the order of a
market: the broker fills what was pending at the open, positions are marked, then the strategy decides), and
every event that follows is handled before the next bar. Same inputs, same events, same outputs.

The equity curve has one point per bar, labelled as the data labels the bar (its start, ``Ohlc.Timestamp``) and
valued at its close, as backtesting.py and its peers label theirs; fills carry the label of the bar whose price
they took (the paper executor stamps them so).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ingenium.backtest.account import Account
from ingenium.backtest.assembly import build
from ingenium.backtest.bars import Bars
from ingenium.backtest.bus import InMemoryBus
from ingenium.backtest.calendars import load_calendar, periods_per_year
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.results import BacktestResult
from ingenium.backtest.stats import compute_stats
from ingenium.backtest.trusted import trusted_bar
from ingenium.clock import SimulatedClock
from ingenium.component import ComponentContext
from ingenium.config import Settings
from ingenium.errors import ConfigurationError
from ingenium.events import DataEvent
from ingenium.ids import derive_id
from ingenium.period import parse_period
from ingenium.runmode import RunMode

#: Called with the number of bars handled so far.
Progress = Callable[[int], None]


def isolated_settings(namespace: str) -> Settings:
    """Build settings with no NATS server and no database, whatever the environment says."""
    return Settings(nats_url=None, database_url=None, namespace=namespace, _env_file=None)


class Engine:
    """One run: components wired to an in-memory bus, fed bars or data events, with its own account.

    Args:
        config: What to run.
        namespace: Names the run's streams (``Published`` results); it never reaches a server.
        mode: What the components are told they run in: a backtest, or a replay of recorded streams.

    """

    def __init__(
        self, config: BacktestConfig, *, namespace: str = "backtest", mode: RunMode = RunMode.BACKTEST
    ) -> None:
        self.config = config
        self.clock = SimulatedClock()
        self.settings = isolated_settings(namespace)
        self.bus = InMemoryBus(
            self.settings.subjects, clock=self.clock,
            duplicate_window=timedelta(seconds=self.settings.duplicate_window_seconds),
        )
        self.account = Account(config.cash)
        self.strategy, self.portfolio, self.executor = build(config, self.clock)
        self.components = (self.executor, self.portfolio, self.strategy)
        context = ComponentContext(settings=self.settings, bus=self.bus, mode=mode)
        for component in self.components:
            component.context = context
            self.bus.attach(component)
        self.bus.tap("execution", self.account.on_execution)
        self._now: datetime | None = None
        self._label: datetime | None = None  # the start of the bars that end at _now: the equity point's label
        self._last_end: datetime | None = None
        self._first: datetime | None = None
        #: (symbols, starts, closes) of what was fed, for the price and buy-and-hold lines of the report.
        self._prices: list[tuple[Sequence[str], Sequence[datetime], Sequence[Decimal]]] = []
        self._replayed: tuple[list[str], list[datetime], list[Decimal]] = ([], [], [])
        self._symbols: set[str] = set()
        self._periods: dict[str, timedelta] = {}
        self._started = False

    async def start(self) -> None:
        """Call each component's ``on_start`` (executor, portfolio, strategy)."""
        for component in self.components:
            await component.on_start()
        self._started = True

    async def stop(self) -> None:
        """Call each component's ``on_stop`` and record the last equity point."""
        if self._label is not None:
            self.account.snapshot(self._label)
            self._label = None
        if self._now is not None:
            self._last_end = self._now
            self._now = None
        for component in self.components:
            await component.on_stop()

    async def feed(self, bars: Bars, progress: Progress | None = None, every: int = 10_000) -> None:
        """Hand every bar to the components, in order (the hot path: rows become events without re-validation)."""
        if not self._started:
            raise ConfigurationError("call Engine.start() before feeding bars")
        n = len(bars)
        if n == 0:
            return
        if self._first is None:
            self._first = bars.starts[0]
        self._symbols.update(bars.symbol_names)
        self._prices.append((bars.symbols, bars.starts, bars.closes))
        bus, clock, account = self.bus, self.clock, self.account
        advance, dispatch, drain, deliver = clock.advance_to, bus.dispatch_data, bus.drain, bus.deliver
        sync = bus.data_is_sync
        times_append, equity_append, holdings, last = (
            account.times.append, account.equity.append, account.holdings, account.last
        )
        marked = account.marked
        build = trusted_bar
        now, label = self._now, self._label
        rows = zip(bars.ids, bars.symbols, bars.starts, bars.ends, bars.periods, bars.opens, bars.highs, bars.lows,
                   bars.closes, bars.volumes, strict=True)
        # A run keeps every order, fill and equity point alive, and the collector's full passes rescan them all
        # (a fifth of a long run's time). Freezing moves what exists into the permanent generation, so passes
        # scan only new objects; unfreezing at the end hands everything back to normal collection. A caller
        # that froze objects itself (a forking server) is left alone.
        freeze = gc.get_freeze_count() == 0 and gc.isenabled()
        # The hot path: one iteration per bar, everything it touches bound to a local.
        try:
            for i, (event_id, symbol, start, end, period, open_, high, low, close, volume) in enumerate(rows):
                if end != now:
                    if label is not None:
                        times_append(label)
                        equity_append(marked() if holdings else account.cash)
                    advance(end)
                    now, label = end, start
                    if i % every == 0:
                        if progress is not None:
                            progress(i)
                        if freeze:
                            gc.freeze()
                event = build(event_id, symbol, start, end, period, open_, high, low, close, volume)
                if not sync:
                    await deliver(event)
                elif dispatch(event):
                    await drain()
                last[symbol] = close
        finally:
            self._now, self._label = now, label
            if freeze:
                gc.unfreeze()
        if sync:
            bus.sequences["data"] += n
        if progress is not None:
            progress(n)

    async def feed_event(self, event: DataEvent) -> None:
        """Hand one validated data event (from a replayed stream) to the components."""
        if not self._started:
            raise ConfigurationError("call Engine.start() before feeding events")
        bar = event.bar
        end = event.timestamp
        if bar.period:
            length = self._periods.get(bar.period)
            if length is None:
                length = self._periods[bar.period] = parse_period(bar.period)
            end = bar.timestamp + length
        if self._first is None:
            self._first = bar.timestamp
        self._symbols.add(event.symbol)
        symbols, starts, closes = self._replayed
        symbols.append(event.symbol)
        starts.append(bar.timestamp)
        closes.append(bar.close)
        if end != self._now:
            if self._label is not None and self._now is not None and end > self._now:
                self.account.snapshot(self._label)
            self.clock.advance_to(end)
            if self._now is None or end > self._now:
                self._now, self._label = end, bar.timestamp
        await self.bus.deliver(event)
        self.account.last[event.symbol] = bar.close

    def result(self, *, run_id: str, kind: str, source: str, warnings: tuple[str, ...] = (), gaps: int = 0,
               missing_bars: int = 0) -> BacktestResult:
        """Return the run's results; call after ``stop``.

        ``warnings``, ``gaps`` and ``missing_bars`` describe the data (``Bars``) and go to the summary.
        """
        account = self.account
        first = self._first or self.clock.now()
        times = account.times
        calendar = None
        if self.config.calendar is not None and times:
            calendar = load_calendar(self.config.calendar, times[0].date(), times[-1].date())
        stats = compute_stats(first, times, account.equity, account.initial_cash, account.round_trips,
                              len(account.fills), account.exposed, end=self._last_end or self._now,
                              periods_per_year=periods_per_year(times, calendar))
        return BacktestResult(
            run_id=run_id, kind=kind, config=self.config, source=source, symbols=sorted(self._symbols),
            bars=self.bus.sequences["data"], fills=account.fills, round_trips=account.round_trips,
            times=times, equity=account.equity, stats=stats, events=dict(self.bus.sequences),
            warnings=warnings, gaps=gaps, missing_bars=missing_bars, prices=self._price_lines(),
        )

    def _price_lines(self) -> dict[str, tuple[Sequence[datetime], Sequence[Decimal]]]:
        """Per symbol, the (bar start, close) series that was fed: the report's price and buy-and-hold lines."""
        parts = [*self._prices, self._replayed] if self._replayed[0] else self._prices
        if len(parts) == 1 and len(set(parts[0][0])) == 1:
            symbols, starts, closes = parts[0]  # one file of one symbol: its columns, as they are
            return {symbols[0]: (starts, closes)} if symbols else {}
        lines: dict[str, tuple[list[datetime], list[Decimal]]] = {}
        for symbols, starts, closes in parts:
            for symbol, start, close in zip(symbols, starts, closes, strict=True):
                line = lines.get(symbol)
                if line is None:
                    line = lines[symbol] = ([], [])
                line[0].append(start)
                line[1].append(close)
        return dict(lines)


def default_run_id(kind: str, config: BacktestConfig, source: str, first_id: str, last_id: str) -> str:
    """Derive a run id from what the run is, so the same run gets the same id (and writes the same files)."""
    return derive_id(kind, config.model_dump_json(), source, first_id, last_id)


async def backtest_async(
    config: BacktestConfig, bars: Bars, *, progress: Progress | None = None, run_id: str | None = None
) -> BacktestResult:
    """Run ``config`` over ``bars`` inside a running event loop (for notebooks and async code)."""
    engine = Engine(config)
    await engine.start()
    await engine.feed(bars, progress)
    await engine.stop()
    if run_id is None:
        run_id = default_run_id("backtest", config, bars.source, bars.ids[0] if len(bars) else "",
                                bars.ids[-1] if len(bars) else "")
    return engine.result(run_id=run_id, kind="backtest", source=bars.source, warnings=bars.warnings,
                         gaps=bars.gaps, missing_bars=bars.missing_bars)


def backtest(
    config: BacktestConfig, bars: Bars, *, progress: Progress | None = None, run_id: str | None = None
) -> BacktestResult:
    """Run ``config`` over ``bars`` and return the results.

    Example::

        bars = load_bars("aapl.csv")
        result = backtest(BacktestConfig(strategy="services.strategies:SmaCross",
                                         strategy_params={"fast": 10, "slow": 20}), bars)
        print(result.stats.sharpe)
        result.write("out/aapl")
    """
    return asyncio.run(backtest_async(config, bars, progress=progress, run_id=run_id))
