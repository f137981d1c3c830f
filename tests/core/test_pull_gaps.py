"""Deliveries lost on the way (a dead server, a dead consumer leader) are delivered again in order, not late.

The loss is made here as it happens in a cluster: the server hands messages to an inbox nobody reads, counts them
as delivered, and would redeliver them only after the ack wait, behind newer ones.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.pull import PullConsumer, resets_consumers
from ingenium.testing import bar

BARS = 30


async def test_a_lost_delivery_is_delivered_again_before_anything_newer(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    stream = settings.subjects.stream("data")
    js = nc.jetstream()
    # A server before 2.14 cannot reset a consumer: there the lost ones may only come back after the ack wait.
    resets = resets_consumers(nc)
    await js.add_consumer(stream, ConsumerConfig(
        durable_name="gaps", ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        ack_wait=600 if resets else 2,
    ))
    events = [bar("acme", 100 + i, minutes=i) for i in range(BARS)]
    await bus.publish_many(events)
    consumer = PullConsumer(nc, stream, "gaps", batch=5)
    await consumer.start()
    seen: list[int] = []
    try:
        first = await _fetch_some(consumer)
        for msg in first:
            seen.append(msg.metadata.sequence.stream)
            await msg.ack()
        # Five deliveries that never reach the consumer (after the five it prefetched): a pull whose replies are
        # thrown away (the server serves only pulls whose inbox someone listens on).
        lost = nc.new_inbox()
        sink = await nc.subscribe(lost, cb=_drop)
        await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.gaps", json.dumps({"batch": 5}).encode(), reply=lost)
        await nc.flush()
        async with asyncio.timeout(60):  # far below the ack wait, after which the lost ones would come back late
            while len(set(seen)) < BARS:
                for msg in await consumer.fetch():
                    seen.append(msg.metadata.sequence.stream)
                    await msg.ack()
        await sink.unsubscribe()
    finally:
        await consumer.close()

    if resets:
        # Without the reset, 6-10 would come after 11-30, once the ack wait (10 minutes here) had passed.
        assert seen == list(range(1, BARS + 1))
    else:  # late, after newer ones, but none is lost and the consumer did not stall
        assert sorted(set(seen)) == list(range(1, BARS + 1))


async def _drop(msg: Msg) -> None:
    del msg


async def _fetch_some(consumer: PullConsumer) -> list[Msg]:
    while not (msgs := await consumer.fetch()):
        pass
    return msgs
