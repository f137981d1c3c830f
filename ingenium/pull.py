"""Batched pulls from a durable JetStream consumer, delivered to a callback subscription.

nats-py's ``PullSubscription.fetch`` waits for every message of a batch with its own timer
(``asyncio.wait_for``), which costs more than handling a typical message. Here a pull request asks the server
for a batch, the messages arrive on an inbox whose callback appends them to a buffer, and the consumer waits
once per batch. The next request goes out as soon as the previous one is complete, so the server delivers
while the component works. Acks, redelivery and ``max_ack_pending`` are the server's, exactly as with fetch.

Deliveries can be lost on the way: with the server the client was connected to, or with a consumer leader that
dies while its messages are on a route. The server counts them as delivered and redelivers them only after the
ack wait, behind newer messages, so a strategy would see a symbol's bars out of order. Every delivery is numbered
(the consumer sequence), so a loss shows as a jump in the numbers. But so do the deliveries of another replica
pulling from the same durable (the supported way to share work), and resetting the shared consumer for those
would renumber it and make every replica reset in turn. The two differ in what follows: another replica acks
its deliveries, a lost one stays unacked. So on a jump the messages after it are held back, and handed out once
the ack floor has reached them (everything before them is done, so order holds); only if the floor stops moving
below them for a while is it a loss: they are dropped, the consumer is reset to its ack floor (ADR-60,
nats-server 2.14+), and it delivers again from there in stream order.
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

log = logging.getLogger("ingenium.pull")

_HEARTBEAT = "100"
#: 409: consumer deleted, leader change, too many waiting pulls; 503: no responders, the consumer has no leader
#: (a clustered consumer between the loss of its leader and the election of the next).
_REFUSED = {"409": "", "503": "no responders: the consumer has no leader"}
_PAUSE = 1.0
#: Seconds between looks at the ack floor while messages are held back.
_POLL = 0.02
#: How many pull ``expires`` the ack floor may stand still below held messages before they count as lost: another
#: replica acks its batch in the time it takes to handle it, a lost delivery is never acked.
_STALL_EXPIRES = 3


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
        #: Messages after a jump in the delivery numbers, held back until the ack floor reaches them.
        self._held: list[Msg] = []
        #: A reset is due (it failed in an election and is tried again).
        self._resetting = False
        #: The ack floor (stream sequence) last seen while holding, and when it must have moved by.
        self._floor = 0
        self._stall_deadline = 0.0
        #: Resets of the consumer after a loss (each renumbers its deliveries for every client of the durable).
        self.resets = 0
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
        if self._resetting:
            return await self._recover()
        if self._held:
            return await self._release_or_recover()
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
        return await self._hand_out(list(self._buffer))

    async def _hand_out(self, msgs: list[Msg]) -> list[Msg]:
        self._buffer.clear()
        msgs = self._in_order(msgs)
        if not self._outstanding and not self._held:
            await self._pull()  # prefetch: the server delivers the next batch while this one is handled
        return msgs

    def _in_order(self, msgs: list[Msg]) -> list[Msg]:
        """The messages up to a jump in the delivery numbers; the rest are held until the jump is explained."""
        expected = self._expected
        for i, msg in enumerate(msgs):
            delivered = msg.metadata.sequence.consumer
            # Numbers going back are fine: a new consumer leader continues from what was replicated to it.
            if expected is not None and delivered > expected:
                # Another replica's deliveries or lost ones: not known yet, so not worth a warning.
                log.debug("deliveries %s to %s of %s/%s went elsewhere; holding %d messages until they are acked",
                          expected, delivered - 1, self.stream, self.consumer, len(msgs) - i)
                self._held = msgs[i:]
                self._expected = None
                self._floor = 0
                self._stall_deadline = asyncio.get_running_loop().time() + _STALL_EXPIRES * self.expires
                if i:
                    self._handed = msgs[i - 1].metadata.sequence.stream
                return msgs[:i]
            expected = delivered + 1
        self._expected = expected
        if msgs:
            self._handed = msgs[-1].metadata.sequence.stream
        return msgs

    async def _release_or_recover(self) -> list[Msg]:
        """The held messages once the ack floor reaches them; a reset if it stalls below them; ``[]`` meanwhile.

        Waits at most ``expires`` per call, like an empty fetch. The caller has handled (and acked) what came
        before the jump by now, so the floor stalls only on deliveries nobody will ack.
        """
        loop = asyncio.get_running_loop()
        held = self._held
        target = min(msg.metadata.sequence.stream for msg in held) - 1
        deadline = loop.time() + self.expires
        while True:
            try:
                info = await self.consumer_info()
            except (nats.errors.Error, TimeoutError) as exc:  # an election: the stall deadline still runs
                log.debug("consumer info of %s/%s while holding failed: %r", self.stream, self.consumer, exc)
            else:
                floor = (info.ack_floor.stream_seq or 0) if info.ack_floor is not None else 0
                if floor >= target:
                    self._held = []
                    self._expected = held[0].metadata.sequence.consumer
                    return await self._hand_out(held + list(self._buffer))
                if floor > self._floor:
                    self._floor = floor
                    self._stall_deadline = loop.time() + _STALL_EXPIRES * self.expires
            now = loop.time()
            if now >= self._stall_deadline:
                log.warning("deliveries before stream sequence %s of %s/%s were lost on the way (the ack floor "
                            "stays at %s); resetting the consumer to deliver them again in order", target + 1,
                            self.stream, self.consumer, self._floor)
                self._resetting = True
                return await self._recover()
            if now >= deadline:
                return []
            await asyncio.sleep(_POLL)

    async def _recover(self) -> list[Msg]:
        """Reset the consumer to its ack floor once no request is in flight; returns nothing (this time)."""
        # Whatever the request in flight still brings is numbered before the reset: wait it out and drop it.
        await self._last_request_ended()
        self._buffer.clear()
        self._held = []
        self._outstanding = False
        await self._acks_applied()
        try:
            await self.nc.jetstream(timeout=self.expires + 1.0).reset_consumer(self.stream, self.consumer)
        except (nats.errors.Error, TimeoutError) as exc:
            if is_transient(exc):  # an election: try again at the next fetch
                log.debug("reset of %s/%s failed, retrying: %r", self.stream, self.consumer, exc)
                await asyncio.sleep(_PAUSE)
                return []
            log.warning("cannot reset %s/%s (%r; nats-server before 2.14?): the lost messages come back after the "
                        "ack wait, after newer ones", self.stream, self.consumer, exc)
            self._resetting = False
            self._expected = None
            return []
        self.resets += 1
        self._resetting = False
        # A reset numbers deliveries from 1 again; a late one from before it is a jump, held until the floor
        # reaches it (in order) or dropped by the next reset.
        self._expected = 1
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
