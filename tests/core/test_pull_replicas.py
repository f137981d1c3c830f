"""Replicas of a component share one durable: each one's deliveries are a jump for the other, not a loss.

Resetting the consumer for them would renumber its deliveries and make the other replica reset in turn; here two
consumers on one durable share a backlog with no reset, every message handled once, each in stream order.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.pull import PullConsumer
from ingenium.testing import bar

BARS = 200


async def test_two_replicas_on_one_durable_share_the_work_without_resets(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    stream = settings.subjects.stream("data")
    # Another symbol in between, outside the filter: the ack floor must still reach the held messages.
    await bus.publish_many([bar(symbol, 100 + i, minutes=i) for i in range(BARS) for symbol in ("acme", "other")])
    await nc.jetstream().add_consumer(stream, ConsumerConfig(
        durable_name="shared", ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL, ack_wait=600,
        filter_subject=settings.subjects.data("acme"),
    ))
    replicas = [PullConsumer(nc, stream, "shared", batch=5) for _ in range(2)]
    handled: list[list[int]] = [[], []]
    done = asyncio.Event()

    async def work(consumer: PullConsumer, seen: list[int]) -> None:
        while not done.is_set():
            for msg in await consumer.fetch():
                await asyncio.sleep(0.002)  # handling takes a while, so the replicas' pulls interleave
                seen.append(msg.metadata.sequence.stream)
                await msg.ack()
            if len(handled[0]) + len(handled[1]) >= BARS:
                done.set()

    for consumer in replicas:
        await consumer.start()
    try:
        async with asyncio.timeout(60):  # far below the ack wait: nothing came back by redelivery
            await asyncio.gather(*(work(c, s) for c, s in zip(replicas, handled, strict=True)))
    finally:
        for consumer in replicas:
            await consumer.close()

    acme = list(range(1, 2 * BARS, 2))  # the stream sequences of acme's bars
    assert sorted(handled[0] + handled[1]) == acme  # every one, exactly once
    assert handled[0] and handled[1]  # shared, not taken by one
    assert all(seen == sorted(seen) for seen in handled)
    assert [c.resets for c in replicas] == [0, 0]
