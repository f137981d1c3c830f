"""Consumer lag, ledger projection lag and portfolio gauges, fed by real components on JetStream, read by the SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nats.aio.client import Client
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ingenium import telemetry
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import DataEvent, SignalEvent, SignalType
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.telemetry import gauges
from ingenium.testing import bar, eventually, order, signal
from services.executor import PaperExecutor
from services.portfolio import RiskPortfolio
from tests.services.live import fresh, running


class Quiet(Strategy):
    def on_data(self, event: DataEvent) -> SignalEvent | None:
        return None


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gauges, "LAG_INTERVAL_SECONDS", 0.05)


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """A private SDK meter provider with an in-memory reader, observing the state the global gauges read."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("test")
    meter.create_observable_gauge("lag", callbacks=[telemetry.consumer_lag.observe_pending])
    meter.create_observable_gauge("projection_lag", callbacks=[telemetry.projection_lag.observe])
    gauges.register_portfolio_gauges(meter, telemetry.portfolio_gauges)  # the instruments the exporters read
    yield reader
    provider.shutdown()


def points(reader: InMemoryMetricReader, name: str) -> dict[tuple[tuple[str, object], ...], float]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        tuple(sorted((p.attributes or {}).items())): p.value  # type: ignore[union-attr]
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name
        for p in m.data.data_points
    }


async def test_consumer_lag_is_pending_messages_per_durable(
    nc: Client, bus: JetStreamBus, settings: Settings, reader: InMemoryMetricReader
) -> None:
    stream = settings.subjects.stream("data")
    sub = await nc.jetstream().pull_subscribe(settings.subjects.data("aapl"), durable="lagging", stream=stream)
    for i in range(5):
        await bus.publish(bar("aapl", minutes=i))
    stopping = asyncio.Event()
    watcher = asyncio.create_task(telemetry.watch_consumer_lag([sub], stopping, interval=0.05))
    await eventually(lambda: telemetry.consumer_lag.pending(stream, "lagging") == 5)
    key = (("ingenium.stream", stream), ("messaging.consumer.group.name", "lagging"), ("messaging.system", "nats"))
    assert points(reader, "lag")[key] == 5
    for msg in await sub.fetch(5, timeout=5):
        await msg.ack()
    await eventually(lambda: telemetry.consumer_lag.pending(stream, "lagging") == 0)
    stopping.set()
    await watcher
    assert telemetry.consumer_lag.pending(stream, "lagging") is None
    await sub.unsubscribe()


async def test_runner_reports_its_consumers_lag_while_it_runs(
    bus: JetStreamBus, settings: Settings, fast_polls: None
) -> None:
    for i in range(3):
        await bus.publish(bar("aapl", minutes=i))
    stream = settings.subjects.stream("data")
    runner = Runner(Quiet(name="quiet"), settings)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: telemetry.consumer_lag.pending(stream, "quiet-data") == 0)
    finally:
        runner.stop()
        await task
    assert telemetry.consumer_lag.pending(stream, "quiet-data") is None


async def test_projection_lag_is_stream_end_minus_checkpoint(
    nc: Client, bus: JetStreamBus, settings: Settings, reader: InMemoryMetricReader
) -> None:
    stream = settings.subjects.stream("order")
    for _ in range(4):
        await bus.publish(order())
    stopping = asyncio.Event()
    telemetry.projection_lag.checkpointed(stream, 1)
    watcher = asyncio.create_task(telemetry.watch_projection_lag(nc.jetstream(), [stream], stopping, interval=0.05))
    try:
        await eventually(lambda: telemetry.projection_lag.lag(stream) == 3)
        assert points(reader, "projection_lag")[(("ingenium.stream", stream),)] == 3
        telemetry.projection_lag.checkpointed(stream, 4)
        assert telemetry.projection_lag.lag(stream) == 0
        # The ledger stalls at 4 while orders keep coming: the lag grows without any report from it.
        for _ in range(2):
            await bus.publish(order())
        await eventually(lambda: telemetry.projection_lag.lag(stream) == 2)
        telemetry.projection_lag.checkpointed(stream, 7, last_sequence=9)
        assert telemetry.projection_lag.lag(stream) == 2
    finally:
        stopping.set()
        await watcher
        telemetry.projection_lag.forget(stream)
    assert telemetry.projection_lag.lag(stream) is None


async def test_risk_portfolio_feeds_the_portfolio_gauges_live(
    settings: Settings, nc: Client, bus: JetStreamBus, reader: InMemoryMetricReader
) -> None:
    name = "book-gauges"
    component = (("ingenium.component", name),)
    acme = (("ingenium.component", name), ("ingenium.symbol", "acme"))
    portfolio = RiskPortfolio(name=name, quantity=10, long_only=False, cash=10_000)
    executor = PaperExecutor(name="paper-gauges")
    async with running(settings, nc) as loop:
        await bus.publish(bar("acme", "100"))
        await loop.start(executor)
        await loop.start(portfolio)
        await bus.publish(fresh(signal("acme", price="100")))  # buy 10 at 100
        await loop.settle([portfolio, executor])
        assert points(reader, "ingenium.portfolio.position")[acme] == 10
        assert points(reader, "ingenium.portfolio.exposure")[acme] == 1000
        assert points(reader, "ingenium.portfolio.cash")[component] == 9000
        assert points(reader, "ingenium.portfolio.equity")[component] == 10_000
        assert points(reader, "ingenium.portfolio.realized_pnl")[component] == 0

        await bus.publish(bar("acme", "110", minutes=1))
        # Both have marked 110 before the signal: otherwise, on a loaded machine, the fill may come at 100.
        await loop.settle([portfolio, executor])
        await bus.publish(fresh(signal("acme", SignalType.SHORT, price="110")))  # sell 20 at 110: short 10
        await loop.settle([portfolio, executor])
        assert points(reader, "ingenium.portfolio.position")[acme] == -10
        assert points(reader, "ingenium.portfolio.exposure")[acme] == 1100
        assert points(reader, "ingenium.portfolio.cash")[component] == 11_200
        assert points(reader, "ingenium.portfolio.equity")[component] == 10_100
        assert points(reader, "ingenium.portfolio.realized_pnl")[component] == 100
    # What the gauges show is the portfolio's own book.
    assert portfolio.book.position("acme") == -10 and portfolio.book.cash == 11_200


def test_tally_sums_per_attribute_set_whatever_the_key_order() -> None:
    tally = telemetry.Tally("ingenium.test.tally", unit="{event}", description="test")
    tally.add(1, {"a": "x", "b": 1})
    tally.add(2, {"b": 1, "a": "x"})
    tally.add(5)
    assert tally.total(a="x", b=1) == 3 and tally.total() == 5
    observed = {tuple(sorted((o.attributes or {}).items())): o.value for o in tally.observe(CallbackOptions())}
    assert observed == {(("a", "x"), ("b", 1)): 3, (): 5}
