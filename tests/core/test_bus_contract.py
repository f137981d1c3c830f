"""One contract, two buses: the in-memory bus of backtests behaves as JetStream does for components."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from nats.aio.client import Client

from ingenium.backtest.bus import InMemoryBus
from ingenium.bus import Bus, JetStreamBus
from ingenium.component import Component
from ingenium.config import Settings
from ingenium.events import Event, SignalEvent
from ingenium.runtime import Runner
from ingenium.testing import bar, eventually, order, stream_events
from tests.core.components import Echo


@dataclass
class Harness:
    """A bus plus a way to run a component on it and read back what landed on a stream."""

    bus: Bus
    start: Callable[[Component], Awaitable[None]]
    landed: Callable[[str], Awaitable[list[Event]]]


@pytest_asyncio.fixture
async def memory_harness() -> AsyncIterator[Harness]:
    memory = InMemoryBus()
    seen: dict[str, list[Event]] = {"data": [], "signal": [], "order": [], "execution": []}
    for key, events in seen.items():
        memory.tap(key, events.append)  # type: ignore[arg-type]

    async def attach(component: Component) -> None:
        memory.attach(component)

    async def landed_memory(key: str) -> list[Event]:
        return seen[key]

    yield Harness(memory, attach, landed_memory)


@pytest_asyncio.fixture
async def jetstream_harness(settings: Settings, nc: Client) -> AsyncIterator[Harness]:
    runners: list[tuple[Runner, asyncio.Task[None]]] = []

    async def run(component: Component) -> None:
        runner = Runner(component, settings, nc=nc)
        runners.append((runner, asyncio.create_task(runner.run())))
        await runner.ready.wait()

    async def landed_js(key: str) -> list[Event]:
        return await stream_events(nc, settings, key)  # type: ignore[arg-type]

    yield Harness(JetStreamBus(nc, settings.subjects), run, landed_js)
    for runner, task in runners:
        runner.stop()
        await task


# The in-memory side needs no server, so it runs in the fast lane; only the JetStream side is in the servers lane.
@pytest.fixture(params=[pytest.param("jetstream", marks=pytest.mark.servers), "memory"])
def harness(request: pytest.FixtureRequest) -> Harness:
    found: Harness = request.getfixturevalue(f"{request.param}_harness")
    return found


async def test_duplicate_id_is_reported_and_stored_once(harness: Harness) -> None:
    event = order()
    first = await harness.bus.publish(event)
    second = await harness.bus.publish(event)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.sequence == first.sequence
    assert [e.id for e in await harness.landed("order")] == [event.id]


async def test_publish_many_keeps_order(harness: Harness) -> None:
    events = [order(quantity=i + 1) for i in range(50)]
    results = await harness.bus.publish_many(events)
    assert [r.sequence for r in results] == list(range(1, 51))
    assert [e.id for e in await harness.landed("order")] == [e.id for e in events]


async def test_component_sees_each_event_once_and_its_output_lands(harness: Harness) -> None:
    await harness.start(Echo())
    bars = [bar("aapl", 100 + i, minutes=i) for i in range(25)]
    await harness.bus.publish_many(bars)

    async def signals() -> list[Event] | None:
        landed = await harness.landed("signal")
        return landed if len(landed) >= len(bars) else None

    landed = await eventually(signals)
    assert isinstance(landed, list)
    assert all(isinstance(s, SignalEvent) and s.strategy_id == "echo" for s in landed)
    assert [s.price for s in landed if isinstance(s, SignalEvent)] == [b.bar.close for b in bars]
