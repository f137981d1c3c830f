"""The in-memory bus: JetStream's publish contract, and a deterministic dispatch order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from ingenium.backtest import HandlerFailed, InMemoryBus
from ingenium.bus import Bus, JetStreamBus
from ingenium.clock import SimulatedClock
from ingenium.component import Component
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.events import DataEvent, Event, ExecutionEvent, OrderEvent, SignalEvent
from ingenium.strategy import Strategy
from ingenium.streams import ensure_streams
from ingenium.subjects import Subjects
from ingenium.testing import T0, bar, fill, order, signal


@pytest_asyncio.fixture(params=["memory", "jetstream"])
async def any_bus(request: pytest.FixtureRequest, namespace: str) -> AsyncIterator[Bus]:
    """The same contract, run against both buses (a real nats-server for JetStream)."""
    if request.param == "memory":
        yield InMemoryBus(Subjects(namespace))
        return
    settings: Settings = request.getfixturevalue("settings")
    nc = await connect_nats(settings, name="contract")
    await ensure_streams(nc.jetstream(), settings)
    yield JetStreamBus(nc, settings.subjects)
    await nc.drain()


async def test_publish_contract(any_bus: Bus, namespace: str) -> None:
    subjects = Subjects(namespace)
    first = await any_bus.publish(bar("acme", event_id="bar-1"))
    assert (first.stream, first.duplicate) == (subjects.stream("data"), False)
    again = await any_bus.publish(bar("acme", event_id="bar-1"))
    assert again.duplicate and again.sequence == first.sequence and again.stream == first.stream
    second = await any_bus.publish(bar("acme", minutes=1, event_id="bar-2"))
    assert second.sequence == first.sequence + 1 and not second.duplicate
    an_order = order(event_id="order-1")
    many = await any_bus.publish_many([signal(event_id="sig-1"), an_order, fill(an_order, 10, 100, exec_id="x-1")])
    assert [p.stream for p in many] == [subjects.stream(k) for k in ("signal", "order", "execution")]
    assert all(p.sequence == 1 and not p.duplicate for p in many)


class Recorder(Component):
    """Records what it handles, and answers data with a signal (to test cascades)."""

    def __init__(self, seen: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen = seen

    def on_data(self, event: DataEvent) -> SignalEvent:
        self.seen.append(f"{self.name}:data:{event.id}")
        return signal(event.symbol, event_id=f"sig-{self.name}-{event.id}")

    def on_signal(self, event: SignalEvent) -> None:
        self.seen.append(f"{self.name}:signal:{event.id}")


async def test_fifo_dispatch_in_attach_order_until_quiet() -> None:
    seen: list[str] = []
    bus = InMemoryBus()
    for name in ("a", "b"):
        bus.attach(Recorder(seen, name=name))
    await bus.publish(bar(event_id="d1"))
    # Both see the bar first (FIFO), then both see each signal it caused, in the order they were emitted.
    assert seen == ["a:data:d1", "b:data:d1", "a:signal:sig-a-d1", "b:signal:sig-a-d1",
                    "a:signal:sig-b-d1", "b:signal:sig-b-d1"]
    assert bus.sequences == {"data": 1, "signal": 2, "order": 0, "execution": 0}


async def test_symbol_filter_matches_subjects_case_insensitively() -> None:
    seen: list[str] = []
    bus = InMemoryBus()
    bus.attach(Recorder(seen, name="only", symbols=["ACME"]))
    await bus.deliver(bar("acme", event_id="d1"))
    await bus.deliver(bar("other", event_id="d2"))
    assert [s for s in seen if ":data:" in s] == ["only:data:d1"]


async def test_duplicates_are_dropped_within_the_window_only() -> None:
    clock = SimulatedClock(T0)
    seen: list[str] = []
    bus = InMemoryBus(clock=clock, duplicate_window=timedelta(seconds=60))
    bus.attach(Recorder(seen, name="r"))
    await bus.publish(signal(event_id="s1"))
    assert (await bus.publish(signal(event_id="s1"))).duplicate
    clock.advance_to(T0 + timedelta(seconds=61))
    assert not (await bus.publish(signal(event_id="s1"))).duplicate
    assert seen == ["r:signal:s1", "r:signal:s1"]


class Failing(Strategy):
    def on_data(self, event: DataEvent) -> None:
        raise ZeroDivisionError("boom")


async def test_handler_failure_names_component_and_event() -> None:
    bus = InMemoryBus(clock=SimulatedClock(T0))
    bus.attach(Failing())
    with pytest.raises(HandlerFailed, match=r"failing failed on data event d1 at 2024-03-01T14:30:00\+00:00: "
                                            r"ZeroDivisionError\('boom'\)"):
        await bus.deliver(bar(event_id="d1"))


class Echo(Component):
    """Answers every order with another order: a feedback loop."""

    async def on_order(self, event: OrderEvent) -> OrderEvent:
        return order(event_id=f"{event.id}+")


async def test_feedback_loops_are_stopped() -> None:
    bus = InMemoryBus(max_cascade=50)
    bus.attach(Echo())
    with pytest.raises(HandlerFailed, match="more than 50 events followed one delivery"):
        await bus.publish(order(event_id="o"))


class Publisher(Component):
    """Publishes through the context's bus from inside an async handler, as an ingestor's ``emit`` does."""

    async def on_signal(self, event: SignalEvent) -> None:
        assert self.context is not None
        await self.context.bus.publish(order(event_id=f"o-{event.id}"))

    def on_order(self, event: OrderEvent) -> ExecutionEvent:
        return fill(event, event.quantity, 100, exec_id=f"x-{event.id}")


async def test_publishing_from_a_handler_joins_the_queue() -> None:
    from ingenium.component import ComponentContext
    from ingenium.runmode import RunMode

    bus = InMemoryBus()
    component = Publisher()
    component.context = ComponentContext(settings=Settings(nats_url=None), bus=bus, mode=RunMode.BACKTEST)
    bus.attach(component)
    executions: list[Event] = []
    bus.tap("execution", executions.append)
    await bus.publish(signal(event_id="s"))
    assert [e.id for e in executions] == ["x-o-s"]
    with pytest.raises(TypeError, match="not a data, signal, order, cancel or execution event"):
        await bus.publish(Event(id="x", timestamp=T0))


async def test_taps_see_every_event_before_the_components() -> None:
    seen: list[str] = []
    bus = InMemoryBus()
    bus.attach(Recorder(seen, name="r"))
    bus.tap("data", lambda e: seen.append(f"tap:data:{e.id}"))
    bus.tap("signal", lambda e: seen.append(f"tap:signal:{e.id}"))
    assert bus.data_is_sync
    await bus.deliver(bar(event_id="d1"))
    assert seen == ["tap:data:d1", "r:data:d1", "tap:signal:sig-r-d1", "r:signal:sig-r-d1"]
