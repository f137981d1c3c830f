"""Batched pulls from a durable JetStream consumer, delivered to a callback subscription.

nats-py's ``PullSubscription.fetch`` waits for every message of a batch with its own timer
(``asyncio.wait_for``), which costs more than handling a typical message. Here a pull request asks the server
for a batch, the messages arrive on an inbox whose callback appends them to a buffer, and the consumer waits
once per batch. The next request goes out as soon as the previous one is complete, so the server delivers
while the component works. Acks, redelivery and ``max_ack_pending`` are the server's, exactly as with fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerInfo, Header

log = logging.getLogger("ingenium.pull")

_HEARTBEAT = "100"
_CONFLICT = "409"


class PullConsumer:
    """Pulls batches of up to ``batch`` messages from ``stream``/``consumer`` (a durable that already exists).

    Args:
        nc: The connection.
        stream: Stream name.
        consumer: Durable consumer name.
        batch: Messages asked for per pull request.
        expires: Seconds a pull request waits on the server when there is nothing to deliver.

    """

    def __init__(self, nc: Client, stream: str, consumer: str, *, batch: int, expires: float = 1.0) -> None:
        self.nc = nc
        self.stream = stream
        self.consumer = consumer
        self.batch = batch
        self.expires = expires
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._request = json.dumps({"batch": batch, "expires": int(expires * 1_000_000_000)}).encode()
        self._inbox = nc.new_inbox()
        self._buffer: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._sub: Subscription | None = None
        self._outstanding = False
        self._remaining = 0
        self._deadline = 0.0
        self._conflict: str | None = None

    async def start(self) -> None:
        """Subscribe the inbox that pulled messages are delivered to."""
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message, pending_msgs_limit=self.batch * 8)

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        if not msg.data and headers and Header.STATUS in headers:
            status = headers[Header.STATUS]
            if status == _HEARTBEAT:
                return
            # 408 (request expired) ends a request normally; 409 (consumer deleted, leader change, too many
            # waiting pulls) ends it too, and is worth a pause before asking again.
            if status == _CONFLICT:
                self._conflict = headers.get(Header.DESCRIPTION, "conflict")
            self._outstanding = False
            self._arrived.set()
            return
        self._buffer.append(msg)
        self._remaining -= 1
        if self._remaining <= 0:
            self._outstanding = False
        self._arrived.set()

    async def _pull(self) -> None:
        loop = asyncio.get_running_loop()
        self._outstanding = True
        self._remaining = self.batch
        # A request lost in a reconnect never completes: after this deadline a new one replaces it.
        self._deadline = loop.time() + self.expires + 1.0
        await self.nc.publish(self._api, self._request, reply=self._inbox)

    async def fetch(self) -> list[Msg]:
        """The messages delivered so far, waiting up to ``expires`` seconds for the first; ``[]`` if none came."""
        loop = asyncio.get_running_loop()
        if self._conflict is not None:
            log.warning("pull from %s/%s refused (%s); retrying in 1s", self.stream, self.consumer, self._conflict)
            self._conflict = None
            await asyncio.sleep(1.0)
        if not self._outstanding or loop.time() > self._deadline:
            await self._pull()
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation racing completion.
                async with asyncio.timeout(self.expires + 0.5):
                    await self._arrived.wait()
        msgs = list(self._buffer)
        self._buffer.clear()
        if not self._outstanding:
            await self._pull()  # prefetch: the server delivers the next batch while this one is handled
        return msgs

    async def consumer_info(self) -> ConsumerInfo:
        """The consumer's state on the server (pending and unacked counts, for lag)."""
        info: ConsumerInfo = await self.nc.jetstream().consumer_info(self.stream, self.consumer)
        return info

    async def close(self) -> None:
        """Stop pulling and give back what was pulled but not handled, so another replica takes it at once.

        The last pull request may still deliver for up to ``expires`` seconds (JetStream cannot cancel one), so
        this waits for it to end, then naks every buffered message and unsubscribes.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expires + 0.5
        while self._outstanding and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._arrived.wait()
        while self._buffer:
            await self._buffer.popleft().nak()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
