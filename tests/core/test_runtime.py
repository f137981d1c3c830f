"""The component runtime on a real JetStream: acks, retries, dead letters, restarts and shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.component import Component, Emitted, Schedule, Source
from ingenium.config import Settings
from ingenium.connection import server_at_least
from ingenium.deadletter import COMPONENT, ORIGINAL_SEQUENCE, ORIGINAL_STREAM, REASON
from ingenium.errors import PermanentFailure
from ingenium.events import CancelRequest, OrderEvent, SignalEvent, SignalType
from ingenium.runmode import RunMode
from ingenium.runtime import Runner
from ingenium.testing import bar, cancel, drive, eventually, order, spawn, stream_events, stream_messages
from tests.core.components import AlwaysFails, Echo, Flaky


async def _start(runner: Runner) -> asyncio.Task[None]:
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 10)
    return task


async def _stop(runner: Runner, task: asyncio.Task[None]) -> None:
    runner.stop()
    await asyncio.wait_for(task, 10)


async def test_handler_output_is_published_with_derived_ids(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    runner = Runner(Echo(), settings, nc=nc)
    task = await _start(runner)
    bars = [bar("aapl", 100 + i, minutes=i) for i in range(20)]
    await bus.publish_many(bars)
    signals = await eventually(lambda: _events_if(nc, settings, 20))
    await _stop(runner, task)
    assert isinstance(signals, list)
    assert [s.symbol for s in signals] == ["aapl"] * 20
    assert all(isinstance(s, SignalEvent) and s.strategy_id == "echo" for s in signals)
    # Same input, same output id: a second component instance reproduces them exactly.
    again = Echo()
    assert drive(again, bars[0])[0].id == signals[0].id


async def test_a_component_of_some_symbols_handles_only_theirs(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    # Its consumer filters on both subjects; a server before 2.10 ignores two filters and sends every symbol,
    # which the runner then acks without handling: either way only these two reach on_data.
    runner = Runner(Echo(symbols=["AAPL", "msft"]), settings, nc=nc)
    task = await _start(runner)
    await bus.publish_many([bar(symbol, 100 + i, minutes=i) for i in range(4) for symbol in ("aapl", "zed", "msft")])
    await eventually(lambda: _events_if(nc, settings, 8))
    await asyncio.sleep(0.2)  # time for a wrong one to come after
    await _stop(runner, task)
    signals = await stream_events(nc, settings, "signal")
    assert sorted(s.symbol for s in signals if isinstance(s, SignalEvent)) == ["aapl"] * 4 + ["msft"] * 4


async def _events_if(nc: Client, settings: Settings, n: int) -> list[object] | None:
    events = await stream_events(nc, settings, "signal")
    return events if len(events) >= n else None


async def test_failing_twice_then_succeeding_is_acked_once(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    flaky = Flaky(failures=2)
    runner = Runner(flaky, settings, nc=nc)
    task = await _start(runner)
    event = bar()
    await bus.publish(event)
    await eventually(lambda: flaky.succeeded == [event.id])
    await eventually(lambda: _consumer_settled(nc, settings, "flaky-data"))
    await _stop(runner, task)
    assert flaky.attempts[event.id] == 3
    assert len(await stream_events(nc, settings, "signal")) == 1
    assert await stream_messages(nc, settings, "deadletter") == []


async def _consumer_settled(nc: Client, settings: Settings, durable: str) -> bool:
    info = await nc.jetstream().consumer_info(settings.subjects.stream("data"), durable)
    return info.num_ack_pending == 0 and info.num_pending == 0


async def test_poison_message_is_dead_lettered_and_next_is_handled(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    runner = Runner(Echo(), settings, nc=nc)
    task = await _start(runner)
    js = nc.jetstream()
    poison = b'{"Id": "bad-1", "Symbol": "aapl", "Ohlc": {"Open": "NaN"}}'
    await js.publish(settings.subjects.data("aapl"), poison, headers={"Nats-Msg-Id": "bad-1", "X-Trace": "t"})
    good = bar()
    await bus.publish(good)
    await eventually(lambda: _events_if(nc, settings, 1))
    dead = await eventually(lambda: stream_messages(nc, settings, "deadletter"))
    await _stop(runner, task)
    assert isinstance(dead, list)
    [letter] = dead
    assert letter.data == poison
    assert letter.headers is not None
    assert "invalid DataEvent" in letter.headers[REASON] and "Timestamp" in letter.headers[REASON]
    assert letter.headers[COMPONENT] == "echo"
    assert letter.headers[ORIGINAL_STREAM] == settings.subjects.stream("data")
    assert letter.headers[ORIGINAL_SEQUENCE] == "1"
    assert letter.headers["X-Trace"] == "t"


async def test_handler_that_always_fails_goes_to_dead_letter_after_retries(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    runner = Runner(AlwaysFails(), settings, nc=nc)
    task = await _start(runner)
    await bus.publish(bar("msft"))
    dead = await eventually(lambda: stream_messages(nc, settings, "deadletter"))
    await _stop(runner, task)
    assert isinstance(dead, list)
    assert dead[0].headers is not None
    assert dead[0].headers[REASON].startswith(f"handler failed {settings.max_attempts} times")
    assert "cannot handle msft" in dead[0].headers[REASON]


async def test_sigkill_mid_stream_then_restart_handles_all_with_no_double_effect(
    bus: JetStreamBus, nc: Client, settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "handled.txt"
    args = ["run", "tests.core.components:Echo", "--param", f"record={record}"]
    bars = [bar("aapl", 100 + i % 50, minutes=i) for i in range(3000)]
    child = spawn(args, settings, log=tmp_path / "echo1.log")
    try:
        await bus.publish_many(bars)
        await eventually(lambda: record.exists() and len(record.read_text().splitlines()) > 300, timeout=30)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        handled_before = len(record.read_text().splitlines())
        assert handled_before < len(bars), "the kill should land mid-stream"
        child = spawn(args, settings, log=tmp_path / "echo2.log")
        await eventually(lambda: _consumer_settled(nc, settings, "echo-data"), timeout=60)
    finally:
        child.terminate()
        child.wait(10)
    handled = record.read_text().splitlines()
    assert set(handled) == {b.id for b in bars}  # every message handled at least once
    signals = await stream_events(nc, settings, "signal")
    assert len(signals) == len(bars)  # and no double effect: redelivered outputs were deduplicated
    assert len({s.id for s in signals}) == len(bars)


async def test_sigterm_finishes_in_flight_and_exits_zero(
    bus: JetStreamBus, nc: Client, settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "handled.txt"
    child = spawn(["run", "tests.core.components:Echo", "--param", f"record={record}"], settings,
                  log=tmp_path / "echo.log")
    await bus.publish_many([bar("aapl", 100, minutes=i) for i in range(2000)])
    await eventually(lambda: record.exists() and len(record.read_text().splitlines()) > 100, timeout=30)
    child.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(child.wait, 20) == 0
    info = await nc.jetstream().consumer_info(settings.subjects.stream("data"), "echo-data")
    handled = len(record.read_text().splitlines())
    # Everything handled was acked before exit (in order, so the ack floor is the count handled); what was
    # prefetched but not handled was given back (nak), not left to time out.
    assert info.ack_floor.stream_seq == handled
    assert len(await stream_events(nc, settings, "signal")) == handled
    child = spawn(["run", "tests.core.components:Echo", "--param", f"record={record}"], settings,
                  log=tmp_path / "echo2.log")
    try:
        await eventually(lambda: _consumer_settled(nc, settings, "echo-data"), timeout=60)
    finally:
        child.terminate()
        child.wait(10)
    signals = await stream_events(nc, settings, "signal")
    assert len(signals) == len({s.id for s in signals}) == 2000


class _OrdersOnly(Component):
    """Reads orders, as an executor written before cancel requests existed."""

    def __init__(self, seen: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.seen = seen

    def on_order(self, event: OrderEvent) -> None:
        self.seen.append(f"order {event.id}")


class _OrdersAndCancels(_OrdersOnly):
    def on_cancel(self, event: CancelRequest) -> None:
        if event.order_id == "boom":
            raise PermanentFailure(f"cancel {event.id}: nothing to cancel")
        self.seen.append(f"cancel {event.order_id}")


async def test_cancels_come_through_the_order_consumer_in_stream_order_and_an_old_consumer_learns_them(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    seen: list[str] = []
    before = Runner(_OrdersOnly(seen, name="ex"), settings, nc=nc)
    task = await _start(before)
    first = order(event_id="o1")
    await bus.publish_many([first, cancel(first, event_id="c1")])
    await eventually(lambda: seen == ["order o1"])
    await _stop(before, task)
    info = await nc.jetstream().consumer_info(settings.subjects.stream("order"), "ex-order")
    assert info.config.filter_subject == settings.subjects.order  # cancels were not its business then

    # The same durable, now with on_cancel: it takes the cancel subject too and keeps its position, so the old
    # cancel (stored before the filter changed) is not delivered, and new ones follow their orders.
    after = Runner(_OrdersAndCancels(seen, name="ex"), settings, nc=nc)
    task = await _start(after)
    second = order(event_id="o2")
    await bus.publish_many([second, cancel(second, event_id="c2"), cancel("boom", event_id="c3"),
                            order(event_id="o3")])
    await eventually(lambda: len(seen) == 4)
    await _stop(after, task)
    assert seen == ["order o1", "order o2", "cancel o2", "order o3"]
    info = await nc.jetstream().consumer_info(settings.subjects.stream("order"), "ex-order")
    if server_at_least(nc, 2, 10):
        # Older servers keep no list of filters; the consumer then takes the whole stream, orders and cancels.
        assert sorted(info.config.filter_subjects or []) == sorted([settings.subjects.order,
                                                                    settings.subjects.cancel])
    # A PermanentFailure is dead-lettered at once (no retries), with its message as the reason.
    [letter] = await stream_messages(nc, settings, "deadletter")
    assert (letter.headers or {})[REASON] == "cancel c3: nothing to cancel"


class Ticker(Component):
    """Emits three signals on a timer, then nothing; consumes no stream."""

    def __init__(self) -> None:
        super().__init__(name="ticker")
        self.ticks = 0

    def schedules(self) -> list[Schedule]:
        return [Schedule(every=timedelta(milliseconds=50), emit=self.tick)]

    def tick(self) -> SignalEvent | None:
        self.ticks += 1
        if self.ticks > 3:
            return None
        return SignalEvent(id=f"tick-{self.ticks}", timestamp=self.clock.now(), symbol="acme",
                           signal=SignalType.LONG, strategy_id=self.name)


async def test_scheduled_outputs_are_published_by_the_runtime_live(nc: Client, settings: Settings) -> None:
    ticker = Ticker()
    runner = Runner(ticker, settings, nc=nc)
    task = await _start(runner)
    assert ticker.context is not None and ticker.context.mode is RunMode.LIVE
    signals = await eventually(lambda: _events_if(nc, settings, 3))
    await eventually(lambda: ticker.ticks > 4)
    await _stop(runner, task)
    assert [s.id for s in signals] == ["tick-1", "tick-2", "tick-3"]  # type: ignore[attr-defined]
    assert len(await stream_events(nc, settings, "signal")) == 3


class Relay(Component):
    """Publishes a signal per item of a stream of its own; one item its handler cannot handle."""

    def __init__(self, nc: Client, settings: Settings) -> None:
        super().__init__(name="relay")
        self.nc, self.settings = nc, settings
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.stored: list[tuple[str, list[str]]] = []
        self.failed: list[tuple[str, str]] = []

    def sources(self) -> list[Source[str]]:
        return [Source(items=self.items, handle=self.handle, stored=self.done, failed=self.lost)]

    async def items(self) -> AsyncIterator[str]:
        while True:
            yield await self.inbox.get()

    async def handle(self, item: str) -> Emitted:
        if item == "boom":
            raise ValueError("an update this relay cannot read")
        return SignalEvent(id=f"relay-{item}", timestamp=self.clock.now(), symbol="acme",
                           signal=SignalType.LONG, strategy_id=self.name)

    async def done(self, item: str) -> None:
        # What the stream holds when the runtime says the item is done: its signal is stored by then.
        self.stored.append((item, [e.id for e in await stream_events(self.nc, self.settings, "signal")]))

    def lost(self, item: str, exc: Exception) -> None:
        self.failed.append((item, str(exc)))


async def test_a_components_own_source_is_published_by_the_runtime_before_the_item_is_done(
    nc: Client, settings: Settings
) -> None:
    relay = Relay(nc, settings)
    runner = Runner(relay, settings, nc=nc)
    task = await _start(runner)
    for item in ("a", "boom", "b"):
        relay.inbox.put_nowait(item)
    await eventually(lambda: len(relay.stored) == 2)
    await _stop(runner, task)  # stops while the source waits for its next item
    assert relay.stored == [("a", ["relay-a"]), ("b", ["relay-a", "relay-b"])]
    assert relay.failed == [("boom", "an update this relay cannot read")]
    assert [e.id for e in await stream_events(nc, settings, "signal")] == ["relay-a", "relay-b"]
