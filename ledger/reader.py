"""Reading one stream strictly in order from a given sequence, surviving reconnects and lost consumers.

The reader owns an ephemeral consumer (no acks: the ledger's checkpoint in PostgreSQL is the position of record)
created at the sequence the ledger needs next, and pulls from it with its own requests into one subscription:
a ``no_wait`` request for whatever is there, else a lingering request for the next message. Handing messages
to a callback instead of awaiting them one by one (as ``PullSubscription.fetch`` does) reads several times
faster. Whenever the order could be in doubt (a gap in the consumer's delivery sequence, a consumer the server
no longer knows, a server restart), the reader recreates the consumer at the sequence after the last message it
handed out, so nothing is skipped and nothing repeats.

``ingenium.pull.PullConsumer`` pulls the same way for durable, acked consumers; it prefetches, naks what it
buffered and waits out its last request when closed, where this reader must drop its consumer at once and
recreate it at a given sequence (on every reset and every stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from ledger.messages import Message

log = logging.getLogger("ingenium.ledger.reader")

#: JetStream's API prefix; Ingenium uses no JetStream domain, so it is the default one.
_API = "$JS.API"
#: Status codes that end a pull request normally: no messages (now), or the request expired.
_ENDED = {"404", "408"}
#: Status code of an idle heartbeat, which carries nothing.
_HEARTBEAT = "100"


class StreamReader:
    """Hands out the messages of one stream in stream order, from ``start``.

    Args:
        nc: NATS connection.
        stream: Stream name.
        subjects: The stream's subjects (orders and cancel requests share the order stream).
        start: First stream sequence wanted (the checkpoint + 1).
        batch: Most messages per pull request.
        idle_check_seconds: After this long without messages, check that the consumer still exists.

    ``next_sequence`` is the sequence after the last message handed out; ``pending`` is how many messages the
    stream held beyond it when the last one was delivered.

    """

    def __init__(
        self,
        nc: Client,
        stream: str,
        subjects: Sequence[str],
        start: int,
        *,
        batch: int = 1000,
        idle_check_seconds: float = 5.0,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.stream = stream
        self.subjects = list(subjects)
        self.next_sequence = max(1, start)
        self.batch = batch
        self.idle_check_seconds = idle_check_seconds
        self.pending: int | None = None
        self._sub: Subscription | None = None
        self._consumer: str | None = None
        self._inbox = ""
        self._delivered = 0
        self._idle_since = time.monotonic()
        self._received: list[Msg] = []
        self._wanted = 0
        self._status: str | None = None
        self._done = asyncio.Event()

    async def _open(self) -> None:
        name = f"ingenium_ledger_{uuid.uuid4().hex[:16]}"
        config = ConsumerConfig(
            name=name,
            description="ingenium ledger reader",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_sequence,
            ack_policy=AckPolicy.NONE,
            filter_subject=self.subjects[0] if len(self.subjects) == 1 else None,
            filter_subjects=self.subjects if len(self.subjects) > 1 else None,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=60.0,
        )
        await self.js.add_consumer(self.stream, config)
        self._consumer = name
        self._inbox = self.nc.new_inbox()
        self._received = []  # anything the previous consumer still delivered is out of date
        self._sub = await self.nc.subscribe(self._inbox, cb=self._receive)
        self._delivered = 0
        self._idle_since = time.monotonic()

    async def _receive(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers and not msg.data else None
        if status is None:
            self._received.append(msg)
            if len(self._received) >= self._wanted:
                self._done.set()
        elif status != _HEARTBEAT:
            self._status = f"{status} {msg.headers.get('Description', '')}".strip() if msg.headers else status
            self._done.set()

    async def reset(self, why: str) -> None:
        """Drop the consumer; the next read recreates it at ``next_sequence``."""
        log.info("ledger reader of %s restarts at #%s: %s", self.stream, self.next_sequence, why)
        await self.close()

    async def close(self) -> None:
        """Unsubscribe and delete the consumer (best effort: the server also removes it when idle)."""
        sub, consumer = self._sub, self._consumer
        self._sub = self._consumer = None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if consumer is not None:
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(self.stream, consumer)

    async def _pull(self, request: dict[str, object], wanted: int, wait: float) -> list[Msg]:
        """Send one pull request; return what arrived until it ended (``_status`` says how)."""
        self._wanted = wanted
        self._status = None
        self._done.clear()
        if len(self._received) >= wanted:
            self._done.set()
        await self.nc.publish(
            f"{_API}.CONSUMER.MSG.NEXT.{self.stream}.{self._consumer}", json.dumps(request).encode(),
            reply=self._inbox,
        )
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races completion.
            async with asyncio.timeout(wait):
                await self._done.wait()
        except TimeoutError:
            self._status = "timeout"
        received, self._received = self._received, []
        return received

    async def read(self, wait: float = 1.0) -> list[Message]:
        """Return the next messages in stream order, or ``[]`` after ``wait`` seconds without any."""
        if self._sub is None:
            await self._open()
        msgs = await self._pull({"batch": self.batch, "no_wait": True}, self.batch, wait + 1)
        if not msgs and self._status is not None and self._status[:3] in _ENDED:
            expires = int(wait * 1_000_000_000)
            msgs = await self._pull({"batch": 1, "expires": expires}, 1, wait + 1)
        if msgs:
            return await self._accept(msgs)
        if self._status is not None and self._status[:3] not in _ENDED:
            await self._check(f"pull request ended with {self._status}")
        elif time.monotonic() - self._idle_since >= self.idle_check_seconds:
            await self._check("idle")
        return []

    async def _accept(self, msgs: list[Msg]) -> list[Message]:
        out: list[Message] = []
        for msg in msgs:
            stream, sequence, delivery, pending, stored = _metadata(msg)
            if delivery != self._delivered + 1 or sequence < self.next_sequence:
                await self.reset(f"delivery #{delivery} of stream #{sequence} is out of order")
                break
            self._delivered += 1
            self.next_sequence = sequence + 1
            self.pending = pending
            out.append(Message(stream, sequence, msg.subject, msg.data, msg.headers, stored))
        self._idle_since = time.monotonic()
        return out

    async def _check(self, why: str) -> None:
        """Look the consumer up: one lost with a server restart gives no error, only silence or a 503."""
        self._idle_since = time.monotonic()
        if self._consumer is None:
            return
        try:
            await self.js.consumer_info(self.stream, self._consumer)
        except NotFoundError:
            await self.reset(f"the consumer is gone ({why})")
        except (APIError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            log.warning("ledger reader of %s cannot check its consumer (%s): %r", self.stream, why, exc)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _metadata(msg: Msg) -> tuple[str, int, int, int, datetime]:
    """Stream, stream sequence, delivery sequence, pending count and storage time of a JetStream message.

    Read from the ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<delivery seq>.<ns>.<pending>`` reply
    subject directly, which is several times cheaper than ``msg.metadata``; other forms go through nats-py.
    """
    tokens = msg.reply.split(".") if msg.reply else []
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        stored = _EPOCH + timedelta(microseconds=int(tokens[7]) // 1000)
        return tokens[2], int(tokens[5]), int(tokens[6]), int(tokens[8]), stored
    meta = msg.metadata
    stored = _EPOCH + timedelta(microseconds=round(meta.timestamp.timestamp() * 1_000_000))
    return meta.stream, meta.sequence.stream, meta.sequence.consumer, meta.num_pending, stored
