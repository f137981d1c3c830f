"""Batched pulls from a durable JetStream consumer, delivered to a callback subscription.

nats-py's ``PullSubscription.fetch`` waits for every message of a batch with its own timer
(``asyncio.wait_for``), which costs more than handling a typical message. Here a pull request asks the server
for a batch, the messages arrive on an inbox whose callback appends them to a buffer, and the consumer waits
once per batch. The next request goes out as soon as the previous one is complete, so the server delivers
while the component works. Acks, redelivery and ``max_ack_pending`` are the server's, exactly as with fetch.

Deliveries can be lost on the way: with the server the client was connected to, or with a consumer leader that
dies while its messages are on a route. The server counts them as delivered and redelivers them only after the
ack wait, behind newer messages, so a strategy would see a symbol's bars out of order. Every delivery is numbered
(the consumer sequence), so a jump in the numbers shows the loss: the messages after it are dropped unhandled, the
consumer is reset to its ack floor (ADR-60, nats-server 2.14+), and it delivers again from there in stream order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerInfo, Header

from ingenium.bus import is_transient
from ingenium.connection import server_at_least

log = logging.getLogger("ingenium.pull")

_HEARTBEAT = "100"
#: 409: consumer deleted, leader change, too many waiting pulls; 503: no responders, the consumer has no leader
#: (a clustered consumer between the loss of its leader and the election of the next).
_REFUSED = {"409": "", "503": "no responders: the consumer has no leader"}
_PAUSE = 1.0


def resets_consumers(nc: Client) -> bool:
    """Whether the connected server resets a consumer to its ack floor on request (nats-server 2.14 and later)."""
    return server_at_least(nc, 2, 14)


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
        self._refusals = 0
        #: The consumer sequence the next delivery should carry; ``None`` while unknown.
        self._expected: int | None = None
        #: (expected, seen) delivery numbers of a loss not recovered from yet.
        self._gap: tuple[int, int] | None = None
        #: The stream sequence of the last message handed out before a loss.
        self._handed = 0

    async def start(self) -> None:
        """Subscribe the inbox that pulled messages are delivered to."""
        self._sub = await self.nc.subscribe(self._inbox, cb=self._on_message, pending_msgs_limit=self.batch * 8)

    async def _on_message(self, msg: Msg) -> None:
        headers = msg.headers
        if not msg.data and headers and Header.STATUS in headers:
            status = headers[Header.STATUS]
            if status == _HEARTBEAT:
                return
            # 408 (request expired) ends a request normally; a refusal ends it too, and is worth a pause before
            # asking again, or the consumer would spin on requests until the cluster has elected a leader.
            if status in _REFUSED:
                # A 503 has no description (nats-py reads the next header line as one).
                self._conflict = _REFUSED[status] or headers.get(Header.DESCRIPTION) or "conflict"
            self._outstanding = False
            self._arrived.set()
            return
        self._buffer.append(msg)
        self._refusals = 0
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
        if self._gap is not None:
            return await self._recover()
        if self._conflict is not None:
            self._refusals += 1
            # One warning per episode: an election refuses every request for seconds.
            log.log(logging.WARNING if self._refusals == 1 else logging.DEBUG,
                    "pull from %s/%s refused (%s); retrying every %.0fs", self.stream, self.consumer, self._conflict,
                    _PAUSE)
            self._conflict = None
            await asyncio.sleep(_PAUSE)
        if not self._outstanding or loop.time() > self._deadline:
            await self._pull()
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation racing completion.
                async with asyncio.timeout(self.expires + 0.5):
                    await self._arrived.wait()
        msgs = self._in_order(list(self._buffer))
        self._buffer.clear()
        if not self._outstanding and self._gap is None:
            await self._pull()  # prefetch: the server delivers the next batch while this one is handled
        return msgs

    def _in_order(self, msgs: list[Msg]) -> list[Msg]:
        """The messages up to a jump in the delivery numbers (a loss), which starts a recovery."""
        expected = self._expected
        for i, msg in enumerate(msgs):
            delivered = msg.metadata.sequence.consumer
            # Numbers going back are fine: a new consumer leader continues from what was replicated to it.
            if expected is not None and delivered > expected:
                log.warning("deliveries %s to %s of %s/%s were lost on the way; resetting the consumer to deliver "
                            "them again in order", expected, delivered - 1, self.stream, self.consumer)
                self._gap = (expected, delivered)
                self._expected = None
                if i:
                    self._handed = msgs[i - 1].metadata.sequence.stream
                return msgs[:i]
            expected = delivered + 1
        self._expected = expected
        if msgs:
            self._handed = msgs[-1].metadata.sequence.stream
        return msgs

    async def _recover(self) -> list[Msg]:
        """Reset the consumer to its ack floor once no request is in flight; returns nothing (this time)."""
        # Whatever the request in flight still brings is numbered before the reset: wait it out and drop it.
        await self._last_request_ended()
        self._buffer.clear()
        self._outstanding = False
        await self._acks_applied()
        if not resets_consumers(self.nc):  # an older server does not answer the request: do not wait on it
            log.warning("nats-server %s cannot reset %s/%s (2.14+ can): the lost messages come back after the ack "
                        "wait, after newer ones", self.nc.connected_server_version, self.stream, self.consumer)
            self._gap = self._expected = None
            return []
        try:
            await self.nc.jetstream(timeout=self.expires + 1.0).reset_consumer(self.stream, self.consumer)
        except (nats.errors.Error, TimeoutError) as exc:
            if is_transient(exc):  # an election: try again at the next fetch
                log.debug("reset of %s/%s failed, retrying: %r", self.stream, self.consumer, exc)
                await asyncio.sleep(_PAUSE)
                return []
            log.warning("cannot reset %s/%s (%r; nats-server before 2.14?): the lost messages come back after the "
                        "ack wait, after newer ones", self.stream, self.consumer, exc)
            self._gap = self._expected = None
            return []
        self._gap = None
        self._expected = 1  # a reset numbers deliveries from 1 again; a late one from before it is another jump
        return []

    async def _acks_applied(self) -> None:
        """Wait (at most ``expires``) until the server has applied the acks of what was handed out before the loss.

        The server applies acks apart from API requests, so a reset sent right after the last ack can find an ack
        floor that misses it, and deliver that message a second time.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expires
        while loop.time() < deadline:
            try:
                info = await self.consumer_info()
            except (nats.errors.Error, TimeoutError) as exc:
                log.debug("consumer info of %s/%s before its reset failed: %r", self.stream, self.consumer, exc)
                return
            # A message the caller refused (nak) holds the floor below it for good: the deadline ends the wait.
            if info.ack_floor is None or (info.ack_floor.stream_seq or 0) >= self._handed:
                return
            await asyncio.sleep(0.02)

    async def _last_request_ended(self) -> None:
        """Wait until the pull request in flight has ended (JetStream cannot cancel one), at most ``expires``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.expires + 0.5
        while self._outstanding and (left := deadline - loop.time()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._arrived.wait()

    async def consumer_info(self) -> ConsumerInfo:
        """The consumer's state on the server (pending and unacked counts, for lag)."""
        info: ConsumerInfo = await self.nc.jetstream().consumer_info(self.stream, self.consumer)
        return info

    async def close(self) -> None:
        """Stop pulling and give back what was pulled but not handled, so another replica takes it at once.

        The last pull request may still deliver for up to ``expires`` seconds (JetStream cannot cancel one), so
        this waits for it to end, then naks every buffered message and unsubscribes.
        """
        await self._last_request_ended()
        while self._buffer:
            await self._buffer.popleft().nak()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
