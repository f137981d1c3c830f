"""Publishing with idempotent ids on a real JetStream."""

from __future__ import annotations

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import bar, order, stream_events, stream_messages


async def test_same_id_twice_lands_once(bus: JetStreamBus, nc: Client, settings: Settings) -> None:
    event = order()
    first = await bus.publish(event)
    second = await bus.publish(event)
    assert not first.duplicate
    assert second.duplicate
    assert second.sequence == first.sequence
    assert await stream_events(nc, settings, "order") == [event]


async def test_publish_sets_msg_id_and_subject(bus: JetStreamBus, nc: Client, settings: Settings) -> None:
    event = bar("MSFT", "415")
    await bus.publish(event)
    [msg] = await stream_messages(nc, settings, "data")
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == event.id
    # The symbol is lower-cased in the subject, as the original does.
    assert msg.subject == settings.subjects.data("msft")
    assert msg.subject.endswith("ingenium.ingestor.data.msft")


async def test_publish_many_keeps_order_and_dedups(bus: JetStreamBus, nc: Client, settings: Settings) -> None:
    bars = [bar("aapl", 100 + i, minutes=i) for i in range(500)]
    results = await bus.publish_many(bars)
    assert [r.sequence for r in results] == list(range(1, 501))
    extra = bar("aapl", 1, minutes=999)
    again = await bus.publish_many([*bars[:10], extra])
    assert [r.duplicate for r in again] == [True] * 10 + [False]
    assert [e.id for e in await stream_events(nc, settings, "data")] == [b.id for b in bars] + [extra.id]
