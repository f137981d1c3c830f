"""The reply-subject attack on JetStream: a pull request asking the server to deliver into another stream."""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client

from ingenium.testing import eventually


async def pull_into_the_order_subject(admin: Client, strategy: Client, durable: str = "sma_cross-data") -> int:
    """Have ``strategy`` pull 3 bars from its durable with reply ``ingenium.portfolio.order``; orders stored after.

    nats-server checks no permission on a reply subject, so only how the accounts are laid out decides where the
    deliveries land.
    """
    js = admin.jetstream()
    for i in range(3):
        await js.publish("ingenium.ingestor.data.aapl", b'{"bar": %d}' % i)
    request = json.dumps({"batch": 3, "expires": 1_000_000_000}).encode()
    await strategy.publish(f"$JS.API.CONSUMER.MSG.NEXT.INGENIUM_DATA.{durable}", request,
                           reply="ingenium.portfolio.order")
    await strategy.flush()

    async def delivered() -> bool:  # the request was served: the bars went out, somewhere
        return bool((await js.consumer_info("INGENIUM_DATA", durable)).delivered.stream_seq == 3)

    await eventually(delivered, timeout=5)
    await asyncio.sleep(0.5)  # a stored order would be there by now: the deliveries are already out
    return (await js.stream_info("INGENIUM_ORDERS")).state.messages
