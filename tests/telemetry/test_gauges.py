"""Consumer lag, ledger projection lag and portfolio gauges, fed from a real JetStream and read by the SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest
from nats.aio.client import Client
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from ingenium import gauges, telemetry
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import DataEvent, SignalEvent
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.testing import bar, eventually, order


class Quiet(Strategy):
    def on_data(self, event: DataEvent) -> SignalEvent | None:
        return None


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gauges, "LAG_INTERVAL_SECONDS", 0.05)


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """A private SDK meter provider observing the same callbacks the global gauges use."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("test")
    meter.create_observable_gauge("lag", callbacks=[telemetry.consumer_lag.observe_pending])
    meter.create_observable_gauge("projection_lag", callbacks=[telemetry.projection_lag.observe])
    meter.create_observable_gauge("position", callbacks=[telemetry.portfolio_gauges.observe_positions])
    meter.create_observable_gauge("exposure", callbacks=[telemetry.portfolio_gauges.observe_exposure])
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


def test_portfolio_gauges_mark_positions_to_market(reader: InMemoryMetricReader) -> None:
    snapshot = telemetry.portfolio_gauges.record(
        "book-under-test",
        positions={"aapl": Decimal(10), "msft": Decimal(-4), "tsla": Decimal(0)},
        prices={"aapl": Decimal("101.5"), "msft": Decimal("250.25")},
        cash=Decimal("5000.00"),
        realized_pnl=Decimal("12.50"),
    )
    assert snapshot.exposure == {"aapl": Decimal("1015.0"), "msft": Decimal("1001.00")}
    assert snapshot.equity == Decimal("5000.00") + Decimal("1015.0") - Decimal("1001.00")
    assert telemetry.portfolio_gauges.snapshot("book-under-test") == snapshot

    position = points(reader, "position")
    assert position[(("ingenium.component", "book-under-test"), ("ingenium.symbol", "msft"))] == -4.0
    assert position[(("ingenium.component", "book-under-test"), ("ingenium.symbol", "tsla"))] == 0.0
    exposure = points(reader, "exposure")
    assert exposure[(("ingenium.component", "book-under-test"), ("ingenium.symbol", "aapl"))] == 1015.0
    totals = {o.attributes["ingenium.component"]: o.value  # type: ignore[index]
              for o in telemetry.portfolio_gauges.observe_totals("realized_pnl", CallbackOptions())}
    assert totals["book-under-test"] == 12.5


def test_portfolio_may_report_its_own_equity() -> None:
    snapshot = telemetry.portfolio_gauges.record(
        "book-own-equity", positions={}, prices={}, cash=Decimal(100), realized_pnl=Decimal(0), equity=Decimal(90)
    )
    assert snapshot.equity == Decimal(90)


def test_tally_sums_per_attribute_set_whatever_the_key_order() -> None:
    tally = gauges.Tally("ingenium.test.tally", unit="{event}", description="test")
    tally.add(1, {"a": "x", "b": 1})
    tally.add(2, {"b": 1, "a": "x"})
    tally.add(5)
    assert tally.total(a="x", b=1) == 3 and tally.total() == 5
    observed = {tuple(sorted((o.attributes or {}).items())): o.value for o in tally.observe(CallbackOptions())}
    assert observed == {(("a", "x"), ("b", 1)): 3, (): 5}
