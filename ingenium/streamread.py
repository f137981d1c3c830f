"""Reading a stream in order with JetStream's batched Direct Get: no consumer is created, so none needs the right to.

A batch request (``$JS.API.DIRECT.GET.<stream>`` with ``{"seq": N, "batch": B}``) is answered by up to B stored
messages in stream order, each with its ``Nats-Sequence``, ``Nats-Subject`` and ``Nats-Time-Stamp`` headers, and
then a status message (``204 EOB``, or ``404`` when nothing is at or after N). Components read the streams this
way, so only the provisioning step needs rights over consumers (issue #14). Streams need ``allow_direct``
(``ingenium.streams.stream_config``).

Servers before 2.11 answer only single direct gets; ``direct_batch`` then sends one per sequence instead.

``StreamReader`` follows a stream from a sequence (the ledger's projection, its rebuild); ``read_stream`` reads
a range once (recovery, the web UI, checks).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from ingenium.bus import MSG_ID
from ingenium.connection import server_at_least

log = logging.getLogger("ingenium.streamread")

#: JetStream's API prefix; Ingenium uses no JetStream domain, so it is the default one.
_API = "$JS.API"
#: Headers JetStream adds to a direct get reply; they are not the message's own.
_DIRECT_HEADERS = ("Nats-Stream", "Nats-Num-Pending", "Nats-Last-Sequence")
#: After a wake-up finds nothing stored yet, look again after these pauses (the stream stores asynchronously).
_SETTLE = (0.0005, 0.002, 0.01, 0.05)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One stored stream message: where JetStream stored it, when, and its bytes and headers."""

    stream: str
    sequence: int
    subject: str
    data: bytes
    headers: Mapping[str, str] | None
    received_at: datetime

    @property
    def msg_id(self) -> str | None:
        """The ``Nats-Msg-Id`` it was published with."""
        return self.headers.get(MSG_ID) if self.headers else None


class DirectGetError(RuntimeError):
    """A direct get was refused or went unanswered."""


def _timestamp(text: str) -> datetime:
    """``2026-01-02T03:04:05.123456789Z`` as a UTC datetime (the nanoseconds truncated to microseconds).

    Python 3.11's ``fromisoformat`` reads Go's RFC 3339 with any number of fraction digits, a tenth of the time
    splitting the text by hand took (read once per message by the ledger).
    """
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is UTC:
        return stamp
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


class _Batch:
    """Collects the replies to one batch request on one inbox."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.messages: list[StreamMessage] = []
        self.pending: int | None = None
        self.last_sequence: int | None = None
        self.status: str | None = None
        self.done = asyncio.Event()

    async def receive(self, msg: Msg) -> None:
        headers = msg.headers
        if not headers or "Nats-Sequence" not in headers:
            status = headers.get("Status", "") if headers else ""
            self.status = f"{status} {headers.get('Description', '')}".strip() if headers else "no status"
            if headers and "Nats-Num-Pending" in headers:
                self.pending = int(headers["Nats-Num-Pending"])
            if headers and "Nats-Last-Sequence" in headers:
                self.last_sequence = int(headers["Nats-Last-Sequence"])
            self.done.set()
            return
        self.messages.append(_stored(self.stream, msg, headers))


def _stored(stream: str, msg: Msg, headers: dict[str, str]) -> StreamMessage:
    """The stored message a direct get reply carries (``headers`` is the reply's, with ``Nats-Sequence``)."""
    # The dict is this message's own (nats-py parses headers per message): take JetStream's out of it.
    sequence = int(headers.pop("Nats-Sequence"))
    subject = headers.pop("Nats-Subject", msg.subject)
    stamp = _timestamp(headers.pop("Nats-Time-Stamp", "1970-01-01T00:00:00Z"))
    for name in _DIRECT_HEADERS:
        headers.pop(name, None)
    return StreamMessage(stream, sequence, subject, msg.data, headers or None, stamp)


async def direct_batch(
    nc: Client,
    stream: str,
    *,
    sequence: int | None = None,
    start_time: datetime | None = None,
    subject: str | None = None,
    batch: int = 500,
    answer_within: float = 5.0,
) -> tuple[list[StreamMessage], int | None, int | None]:
    """Up to ``batch`` messages of ``stream`` from ``sequence`` (or ``start_time``), on ``subject`` if given.

    Returns them in stream order, how many more (on ``subject``) the stream holds after them and the stream's last
    sequence it answered with (``None`` when nothing was found). Raises
    ``DirectGetError`` naming the stream when JetStream refuses (no ``allow_direct``, no permission) or is silent.
    """
    if not batched_direct_get(nc):
        return await _direct_singles(nc, stream, sequence, start_time, subject, batch, answer_within)
    request: dict[str, object] = {"batch": batch}
    if sequence is not None:
        request["seq"] = max(1, sequence)
    elif start_time is not None:
        request["start_time"] = start_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    else:
        request["seq"] = 1
    if subject is not None:
        request["next_by_subj"] = subject
    collected = _Batch(stream)
    inbox = nc.new_inbox()
    sub: Subscription = await nc.subscribe(inbox, cb=collected.receive)
    try:
        await nc.publish(f"{_API}.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox)
        try:
            async with asyncio.timeout(answer_within):
                await collected.done.wait()
        except TimeoutError:
            raise DirectGetError(
                f"no answer within {answer_within}s to a direct get of stream {stream}: is JetStream up, and may this "
                "user read it ($JS.API.DIRECT.GET.<stream>)?"
            ) from None
    finally:
        await sub.unsubscribe()
    status = collected.status or ""
    if status.startswith("204"):
        return collected.messages, collected.pending, collected.last_sequence
    if status[:3] in ("404", "408") and not collected.messages:
        return [], 0, None  # nothing (on that subject) at or after the sequence
    if status.startswith("503"):
        raise DirectGetError(f"direct get of stream {stream}: no responders; the stream does not exist, or lacks "
                             "allow_direct (run `ingenium streams init`)")
    raise DirectGetError(
        f"direct get of stream {stream} failed: {status}; the stream needs allow_direct (run `ingenium streams "
        "init`) and the user the right $JS.API.DIRECT.GET.<stream>"
    )


def batched_direct_get(nc: Client) -> bool:
    """Whether the connected server answers batched direct gets (nats-server 2.11 and later)."""
    return server_at_least(nc, 2, 11)


async def _get_one(nc: Client, stream: str, request: dict[str, object], answer_within: float) -> StreamMessage | None:
    """One direct get (any server since 2.9): the stored message, or ``None`` when nothing matches."""
    try:
        reply = await nc.request(f"{_API}.DIRECT.GET.{stream}", json.dumps(request).encode(), timeout=answer_within)
    except nats.errors.NoRespondersError:
        raise DirectGetError(f"direct get of stream {stream}: no responders; the stream does not exist, or lacks "
                             "allow_direct (run `ingenium streams init`)") from None
    except nats.errors.TimeoutError:
        raise DirectGetError(f"no answer within {answer_within}s to a direct get of stream {stream}: is JetStream "
                             "up, and may this user read it ($JS.API.DIRECT.GET.<stream>)?") from None
    headers = reply.headers
    if headers and "Nats-Sequence" in headers:
        return _stored(stream, reply, headers)
    status = headers.get("Status", "") if headers else ""
    if status in ("404", "408"):
        return None
    raise DirectGetError(f"direct get of stream {stream} failed: status {status or 'missing'}; the stream needs "
                         "allow_direct (run `ingenium streams init`) and the user the right "
                         "$JS.API.DIRECT.GET.<stream>")


async def _direct_singles(
    nc: Client, stream: str, sequence: int | None, start_time: datetime | None, subject: str | None, batch: int,
    answer_within: float,
) -> tuple[list[StreamMessage], int | None, int | None]:
    """``direct_batch`` for servers before 2.11, from one direct get per stream sequence, all sent at once.

    Each get asks for the next message at or after its sequence (on ``subject``, or any), so a deleted message's
    get answers with the one after it: the distinct answers are every message of the window, in order, and none
    is skipped. Those servers also ignore ``start_time``, so a time is first turned into a sequence by bisection
    (stream timestamps only grow).
    """
    try:
        state = (await nc.jetstream().stream_info(stream)).state
    except NotFoundError:
        raise DirectGetError(f"direct get of stream {stream}: the stream does not exist (run `ingenium streams "
                             "init`)") from None
    wanted = subject or ">"
    if sequence is None:
        sequence = 1 if start_time is None else await _first_since(nc, stream, wanted, start_time, state.first_seq,
                                                                   state.last_seq, answer_within)
    first = max(1, sequence, state.first_seq)
    window = range(first, min(state.last_seq, first + batch - 1) + 1)
    answers = await asyncio.gather(
        *(_get_one(nc, stream, {"seq": seq, "next_by_subj": wanted}, answer_within) for seq in window)
    )
    found = {message.sequence: message for message in answers if message is not None}
    if not found:
        return [], 0, None
    messages = [found[seq] for seq in sorted(found)]
    # Without a subject this is exact but for deleted messages; with one, an upper bound (the caller reads on).
    return messages, max(0, state.last_seq - messages[-1].sequence), state.last_seq


async def _first_since(
    nc: Client, stream: str, subject: str, since: datetime, low: int, high: int, answer_within: float
) -> int:
    """The first sequence whose next message on ``subject`` was stored at or after ``since``."""
    high += 1  # past the end: where nothing is that recent
    while low < high:
        middle = (low + high) // 2
        message = await _get_one(nc, stream, {"seq": middle, "next_by_subj": subject}, answer_within)
        if message is None or message.received_at >= since:
            high = middle
        else:
            low = message.sequence + 1
    return low


async def read_stream(
    nc: Client,
    stream: str,
    subject: str | None = None,
    *,
    start_sequence: int | None = None,
    start_time: datetime | None = None,
    end_sequence: int | None = None,
    batch: int = 500,
) -> AsyncIterator[StreamMessage]:
    """Yield the messages of ``stream`` (on ``subject`` if given) from a sequence or a time, in stream order.

    Stops at ``end_sequence`` or, without it, at the end of the stream as the first batch found it, so a busy
    stream cannot keep the reader going forever. A stream that does not exist yields nothing.
    """
    try:
        last = (await nc.jetstream().stream_info(stream)).state.last_seq
    except NotFoundError:
        return
    if end_sequence is not None:
        last = min(last, end_sequence)
    sequence = start_sequence
    first = True
    while last and (sequence is None or sequence <= last):
        messages, pending, _ = await direct_batch(
            nc, stream, sequence=sequence, start_time=start_time if first and sequence is None else None,
            subject=subject, batch=batch,
        )
        first = False
        for message in messages:
            if message.sequence > last:
                return
            yield message
        if not messages or not pending or messages[-1].sequence >= last:
            return
        sequence = messages[-1].sequence + 1


class StreamReader:
    """Hands out the messages of one stream in stream order, from ``start``, and follows it live.

    Args:
        nc: NATS connection.
        stream: Stream name.
        subjects: The stream's subjects (orders and cancel requests share the order stream): a core subscription
            on them wakes the reader up when something is published, instead of polling.
        start: First stream sequence wanted (the checkpoint + 1).
        batch: Most messages per request.
        idle_check_seconds: The longest wait without looking at the stream, whatever ``read`` is given.

    ``next_sequence`` is the sequence after the last message handed out; ``pending`` is how many messages the
    stream held beyond it when the last batch was read.

    """

    def __init__(
        self, nc: Client, stream: str, subjects: Sequence[str], start: int, *, batch: int = 1000,
        idle_check_seconds: float = 5.0,
    ) -> None:
        self.nc = nc
        self.stream = stream
        self.subjects = list(subjects)
        self.next_sequence = max(1, start)
        self.batch = batch
        #: The longest wait without a look at the stream, should a wake-up be lost (a reconnect).
        self.idle_check_seconds = idle_check_seconds
        self.pending: int | None = None
        self._wake = asyncio.Event()
        self._subs: list[Subscription] = []

    async def _woken(self, _msg: Msg) -> None:
        self._wake.set()

    async def read(self, wait: float = 1.0) -> list[StreamMessage]:
        """Return the next messages in stream order, or ``[]`` after ``wait`` seconds without any."""
        if not self._subs:
            self._subs = [await self.nc.subscribe(s, cb=self._woken) for s in self.subjects]
        self._wake.clear()  # before the read: what is published during it wakes the wait below
        messages = await self._get()
        if messages:
            return messages
        try:
            async with asyncio.timeout(min(wait, self.idle_check_seconds)):
                await self._wake.wait()
        except TimeoutError:
            return await self._get()  # a periodic look, should a wake-up be lost (a reconnect)
        for pause in _SETTLE:
            messages = await self._get()
            if messages:
                return messages
            await asyncio.sleep(pause)  # published, not stored yet (or a duplicate JetStream dropped)
        return []

    async def _get(self) -> list[StreamMessage]:
        messages, pending, _ = await direct_batch(self.nc, self.stream, sequence=self.next_sequence, batch=self.batch)
        if messages:
            if messages[0].sequence < self.next_sequence:
                raise DirectGetError(f"direct get of {self.stream} from #{self.next_sequence} returned "
                                     f"#{messages[0].sequence}: out of order")
            self.next_sequence = messages[-1].sequence + 1
        self.pending = pending
        return messages

    async def reset(self, why: str) -> None:
        """Read again from ``next_sequence`` (nothing is held between reads, so this only logs)."""
        log.info("reader of %s restarts at #%s: %s", self.stream, self.next_sequence, why)

    async def close(self) -> None:
        """Drop the wake-up subscriptions."""
        subs, self._subs = self._subs, []
        for sub in subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # a closed connection: its subscriptions are gone with it
                log.debug("reader of %s: unsubscribe failed: %r", self.stream, exc)
