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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingenium.backtest.account import Account
from ingenium.backtest.assembly import build
from ingenium.backtest.bus import InMemoryBus
from ingenium.backtest.config import BacktestConfig
from ingenium.backtest.curve import Column, Moments, decimal_column, micros, time_column
from ingenium.backtest.results import BacktestResult
from ingenium.backtest.stats import compute_stats
from ingenium.backtest.trusted import trusted_bar
from ingenium.bars import BarBatch, Bars, read_bars
from ingenium.calendars import load_calendar, periods_per_year
from ingenium.clock import SimulatedClock
from ingenium.component import Component, ComponentContext, Params
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
        #: The symbols, starts and closes of the bars fed, as Arrow tables: the report's price and buy-and-hold
        #: lines are built from them at the end, so a run holds no Python objects per bar for them.
        self._fed: list[Bars] = []
        self._replayed: tuple[list[str], list[datetime], list[Decimal]] = ([], [], [])
        self._symbols: set[str] = set()
        self._periods: dict[str, timedelta] = {}
        self._started = False
        self._freezing: bool | None = None  # whether this run froze the collector's objects (set by the first feed)

    async def start(self) -> None:
        """Call each component's ``on_start`` (executor, portfolio, strategy)."""
        for component in self.components:
            await component.on_start()
        self._started = True

    async def stop(self) -> None:
        """Call each component's ``on_stop`` and record the last equity point."""
        self._thaw()
        if self._label is not None:
            self.account.snapshot(self._label)
            self._label = None
        if self._now is not None:
            self._last_end = self._now
            self._now = None
        for component in self.components:
            await component.on_stop()

    async def feed(self, bars: Bars, progress: Progress | None = None, every: int = 10_000) -> None:
        """Hand every bar to the components, in order (the hot path: rows become events without re-validation).

        The bars are built into Python values one batch at a time (``Bars.batches``), so no more than a batch
        of them is alive beyond what the components keep.
        """
        if not self._started:
            raise ConfigurationError("call Engine.start() before feeding bars")
        n = len(bars)
        if n == 0:
            return
        if self._first is None:
            self._first = bars.first_start
        self._symbols.update(bars.symbol_names)
        # Only what the price lines need, so the other columns of a streamed batch are freed with it; bars whose
        # Python values were built already (``materialise``) are kept whole and their lists reused.
        self._fed.append(bars if bars.materialised else Bars(bars.table.select(["symbol", "start", "close"]),
                                                        source=bars.source))
        done = 0
        for batch in bars.batches():
            await self._feed_batch(batch, done, progress, every)
            done += len(batch)
        if self.bus.data_is_sync:
            self.bus.sequences["data"] += n
        if progress is not None:
            progress(n)

    async def _feed_batch(self, bars: BarBatch, done: int, progress: Progress | None, every: int) -> None:
        bus, clock, account = self.bus, self.clock, self.account
        advance, dispatch, drain, deliver = clock.advance_to, bus.dispatch_data, bus.drain, bus.deliver
        sync = bus.data_is_sync
        times_append, equity_append, holdings, last = (
            account.times.pending.append, account.equity.pending.append, account.holdings, account.last
        )
        marked = account.marked
        build = trusted_bar
        now, label = self._now, self._label
        rows = zip(bars.ids, bars.symbols, bars.starts, bars.ends, bars.periods, bars.opens, bars.highs, bars.lows,
                   bars.closes, bars.volumes, strict=True)
        # A run keeps every order, fill and equity point alive, and the collector's full passes rescan them all
        # (a fifth of a long run's time). Freezing moves what exists into the permanent generation, so passes
        # scan only new objects; ``stop`` (or a failure) unfreezes, handing everything back to normal collection.
        # Frozen for the whole run, not per ``feed``: a run streamed in many feeds would otherwise rescan all it
        # holds after each one. A caller that froze objects itself (a forking server) is left alone.
        if self._freezing is None:
            self._freezing = gc.get_freeze_count() == 0 and gc.isenabled()
        freeze = self._freezing
        # The hot path: one iteration per bar, everything it touches bound to a local.
        try:
            for i, (event_id, symbol, start, end, period, open_, high, low, close, volume) in enumerate(rows, done):
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
        except BaseException:
            self._thaw()
            raise
        finally:
            self._now, self._label = now, label
            account.seal()

    def _thaw(self) -> None:
        if self._freezing:
            gc.unfreeze()
        self._freezing = None

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
        moments = Moments(micros(times))  # the calendar's sampling and searches read points at random
        calendar = None
        if self.config.calendar is not None and times:
            calendar = load_calendar(self.config.calendar, moments[0].date(), moments[-1].date())
        stats = compute_stats(first, times, account.equity, account.initial_cash, account.round_trips,
                              len(account.fills), account.exposed, end=self._last_end or self._now,
                              periods_per_year=periods_per_year(moments, calendar))
        return BacktestResult(
            run_id=run_id, kind=kind, config=self.config, source=source, symbols=sorted(self._symbols),
            bars=self.bus.sequences["data"], fills=account.fills, round_trips=account.round_trips,
            times=times, equity=account.equity, stats=stats, events=dict(self.bus.sequences),
            warnings=warnings, gaps=gaps, missing_bars=missing_bars, prices=self._price_lines(),
        )

    def _price_lines(self) -> dict[str, tuple[Sequence[datetime], Sequence[Decimal]]]:
        """Per symbol, the (bar start, close) series that was fed: the report's price and buy-and-hold lines.

        Kept as compact columns (Arrow) unless the bars' Python values exist already (``materialise``).
        """
        lines: dict[str, tuple[Column[datetime], Column[Decimal]]] = {}

        def line(symbol: str) -> tuple[Column[datetime], Column[Decimal]]:
            return lines.setdefault(symbol, (time_column(), decimal_column()))

        for bars in self._fed:
            if bars.materialised:
                for symbol, (starts, closes) in bars.price_lines().items():
                    line(symbol)[0].pending.extend(starts)
                    line(symbol)[1].pending.extend(closes)
                continue
            for symbol, (start_array, close_array) in bars.price_columns().items():
                line(symbol)[0].add(start_array)
                line(symbol)[1].add(close_array)
        for symbol, start, close in zip(*self._replayed, strict=True):
            line(symbol)[0].append(start)
            line(symbol)[1].append(close)
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
        run_id = default_run_id("backtest", config, bars.source, bars.id_at(0) if len(bars) else "",
                                bars.id_at(len(bars) - 1) if len(bars) else "")
    return engine.result(run_id=run_id, kind="backtest", source=bars.source, warnings=bars.warnings,
                         gaps=bars.gaps, missing_bars=bars.missing_bars)


def run_config(strategy: BacktestConfig | type[Component], params: Params | Mapping[str, Any] | None = None,
               **settings: Any) -> BacktestConfig:
    """The ``BacktestConfig`` of a run given as a strategy class and its typed parameters (or given whole).

    Args:
        strategy: The strategy class, or a whole ``BacktestConfig`` (then nothing else may be given).
        params: The strategy's parameters: an instance of its ``params_model`` (or a mapping of raw values).
        **settings: Any other ``BacktestConfig`` field: ``cash``, ``fill``, ``portfolio``, ``executor_params`` …

    Raises:
        ConfigurationError: ``params`` is another class's model, or a whole config came with more.

    """
    if isinstance(strategy, BacktestConfig):
        if params is not None or settings:
            raise ConfigurationError("backtest() takes either a BacktestConfig or a strategy class with its "
                                     "params and settings, not both")
        return strategy
    model = strategy.params_model
    if isinstance(params, Params):
        if not isinstance(params, model):
            raise ConfigurationError(f"params is a {type(params).__name__}; {strategy.__name__} takes "
                                     f"{model.__name__}")
        # Only what was set: the strategy validates them again, and its defaults stay its own.
        values: Mapping[str, Any] = params.model_dump(exclude_unset=True)
    else:
        values = params or {}
    return BacktestConfig(strategy=strategy, strategy_params=dict(values), **settings)


def backtest(
    strategy: BacktestConfig | type[Component], bars: Bars | str | Path, *,
    params: Params | Mapping[str, Any] | None = None, progress: Progress | None = None, run_id: str | None = None,
    **settings: Any,
) -> BacktestResult:
    """Backtest a strategy class with its typed parameters over bars (a file, or bars already read); the results.

    It runs the engine ``ingenium backtest`` runs, with the live portfolio and paper executor unless ``settings``
    name others (see ``run_config``). A path is read with ``read_bars``' defaults; read it yourself for more.

    Example::

        result = backtest(SmaCross, "aapl.csv", params=SmaCrossParams(fast=10, slow=20), cash=Decimal(50_000))
        print(result.stats.sharpe)
        result.write("out/aapl")

    A whole ``BacktestConfig`` works too: ``backtest(BacktestConfig(strategy="pkg.mod:Cls", ...), bars)``.
    """
    config = run_config(strategy, params, **settings)
    data = bars if isinstance(bars, Bars) else read_bars(bars)
    return asyncio.run(backtest_async(config, data, progress=progress, run_id=run_id))
