"""When JetStream does not store what a handler emitted, the handler is not run again for that message.

Handlers keep state. Running one again on the redelivered message would apply it twice, and here (as with
SmaCross, whose averages have moved, or RiskPortfolio, whose book already holds the order) the second run emits
nothing: the signal would be lost although the message ends up acked. And a message that waits for JetStream
waits in place: the messages after it do not overtake it (later orders of a symbol overtaking an earlier one).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import nats.errors
import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import DataEvent, SignalEvent
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.streams import ensure_streams
from ingenium.testing import bar, drive, eventually, stream_events, stream_messages


class FirstBar(Strategy):
    """Signals the first bar of each symbol and no later one: a second run on the same bar emits nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.calls = 0

    def on_data(self, event: DataEvent) -> SignalEvent | None:
        self.calls += 1
        if event.symbol in self.seen:
            return None
        self.seen.add(event.symbol)
        return self.long(event.symbol, event.bar.close)


class ClusterAway(Strategy):
    """Fails its first ``failures`` runs as a key-value read fails while JetStream elects a leader."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.calls = 0

    def on_data(self, event: DataEvent) -> SignalEvent:
        self.calls += 1
        if self.calls <= self.failures:
            raise nats.errors.TimeoutError
        return self.long(event.symbol, event.bar.close)


async def test_output_not_stored_is_sent_again_instead_of_handling_the_message_twice(
    bus: JetStreamBus, nc: Client, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"publish_retry_seconds": 0.2})
    strategy = FirstBar()
    runner = Runner(strategy, settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 20)
    js = nc.jetstream()
    signals = settings.subjects.stream("signal")
    await js.delete_stream(signals)  # where the signal goes is gone: its publish cannot be stored
    event = bar("acme", "101")
    await bus.publish(event)

    def retried() -> bool:  # the output was sent, not stored, and the message waits for another try
        return any("its output was not stored" in r.getMessage() for r in caplog.records)

    await eventually(retried, timeout=30)
    await ensure_streams(js, settings)  # the stream is back: the next delivery stores the kept signal
    stored = await eventually(lambda: _signals(nc, settings), timeout=30)
    runner.stop()
    await asyncio.wait_for(task, 20)

    assert strategy.calls == 1
    assert isinstance(stored, list) and len(stored) == 1
    probe = FirstBar()  # the signal is the one the first run emitted: same derived id
    assert stored[0].id == drive(probe, event)[0].id
    info = await js.consumer_info(settings.subjects.stream("data"), "first_bar-data")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_jetstream_errors_inside_a_handler_never_dead_letter_and_keep_the_order(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    assert settings.max_attempts == 3
    strategy = ClusterAway(failures=5)  # more failures than max_attempts, all on the first bar
    runner = Runner(strategy, settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await asyncio.wait_for(runner.ready.wait(), 20)
    await bus.publish_many([bar("acme", "101"), bar("acme", "102", minutes=1)])
    stored = await eventually(lambda: _signals(nc, settings, 2), timeout=30)
    runner.stop()
    await asyncio.wait_for(task, 20)

    assert strategy.calls == 7
    # The second bar waited for the first: its signal did not overtake the first bar's.
    assert isinstance(stored, list) and [s.price for s in stored] == [Decimal(101), Decimal(102)]
    assert await stream_messages(nc, settings, "deadletter") == []


async def _signals(nc: Client, settings: Settings, count: int = 1) -> list[SignalEvent] | None:
    events = [e for e in await stream_events(nc, settings, "signal") if isinstance(e, SignalEvent)]
    return events if len(events) >= count else None
