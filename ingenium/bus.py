"""Publishing events to JetStream with idempotent ids, riding out leader elections and reconnects.

Every publish sets ``Nats-Msg-Id`` to the event's ``Id`` and waits for the stream's ack, so a retry inside
the stream's duplicate window is stored once and reported as a duplicate rather than an error. That is what makes
retrying safe: while a clustered stream elects a new leader (JetStream answers "no responders" for a few
seconds), while the client reconnects to another node (acks in flight are lost), or while a server restarts, a
publish that was not acknowledged is sent again, unchanged, with a growing pause, until ``retry_for`` seconds
have passed. Only then, or at once for an error that a retry cannot fix, does it raise ``PublishFailed``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
from opentelemetry.trace import SpanKind

from ingenium import telemetry
from ingenium.errors import PublishFailed
from ingenium.events import Event
from ingenium.subjects import Subjects

MSG_ID = "Nats-Msg-Id"

log = logging.getLogger("ingenium.bus")

#: Errors after which the same publish may well succeed: no stream leader (an election), no reply (a lost
#: connection or an overloaded server), a client between two servers.
_TRANSIENT: tuple[type[BaseException], ...] = (
    NoStreamResponseError,
    TimeoutError,  # also nats.errors.TimeoutError
    nats.errors.NoRespondersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.ConnectionReconnectingError,
)
_FIRST_PAUSE = 0.05
_PER_PUBLISH = 0.005
_MAX_PAUSE = 1.0
_HINT = "run `ingenium streams init` if the streams are missing"


def is_transient(exc: BaseException) -> bool:
    """Whether a failure to talk to JetStream may pass by itself (an election, a reconnect, a restart)."""
    if isinstance(exc, APIError):
        return exc.code == 503  # "JetStream system temporarily unavailable"
    return isinstance(exc, _TRANSIENT)


@dataclass(frozen=True, slots=True)
class Published:
    """Where JetStream stored an event; ``duplicate`` when it had the id already."""

    stream: str
    sequence: int
    duplicate: bool


class Bus(Protocol):
    """Where components publish events: JetStream live, an in-memory queue in backtests."""

    async def publish(self, event: Event) -> Published:
        """Publish one event and wait until it is stored."""
        ...

    async def publish_many(self, events: Sequence[Event]) -> list[Published]:
        """Publish events in order, many in flight at once; returns when all are stored."""
        ...


class JetStreamBus:
    """The live bus: JetStream with ``Nats-Msg-Id`` dedup and trace context in headers.

    Args:
        nc: The connection.
        subjects: Subject names of the namespace.
        timeout: Seconds a JetStream API request (``bus.js``) may take.
        attempt_timeout: Seconds an attempt waits for its acks (plus 5 ms a publish in a batch) before what is
            still unanswered (lost with a connection, or with a leader) is sent again.
        retry_for: Seconds a publish is retried before ``PublishFailed``; keep it inside the streams' duplicate
            window, or a retry of a publish whose ack was lost may be stored twice.

    """

    def __init__(
        self, nc: Client, subjects: Subjects, *, timeout: float = 10.0, attempt_timeout: float = 2.0,
        retry_for: float = 30.0,
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=timeout, publish_async_max_pending=4000)
        self.subjects = subjects
        self.attempt_timeout = attempt_timeout
        self.retry_for = retry_for
        self._known_subjects: set[str] = set()

    def _headers(self, event: Event) -> dict[str, str]:
        return telemetry.inject({MSG_ID: event.id})

    async def publish(self, event: Event) -> Published:
        """Publish one event; raises ``PublishFailed`` if JetStream does not store it within ``retry_for``."""
        subject = self.subjects.for_event(event)
        with telemetry.tracer.start_as_current_span(
            f"publish {subject}",
            kind=SpanKind.PRODUCER,
            attributes=telemetry.publish_attributes(subject, event),
        ):
            data, headers = event.to_json(), self._headers(event)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.retry_for
            pause, attempts = _FIRST_PAUSE, 1
            while True:
                try:
                    ack = await self.js.publish(subject, data, timeout=self.attempt_timeout, headers=headers)
                    break
                except (nats.errors.Error, TimeoutError) as exc:  # APIError is a nats.errors.Error
                    await self._before_retry([event], exc, attempts, deadline - loop.time() - pause)
                await asyncio.sleep(pause)
                pause, attempts = min(pause * 2, _MAX_PAUSE), attempts + 1
        if attempts > 1:
            log.info("stored %s %s after %d attempts", event.kind, event.id, attempts)
        telemetry.events_published.add(1, {"messaging.destination.name": subject})
        return Published(ack.stream, ack.seq, bool(ack.duplicate))

    async def send(self, event: Event) -> asyncio.Future[PubAck]:
        """Put one event on the wire without waiting for its ack; await the returned future (or ``confirm``).

        A transient failure to send comes back in the future, so ``confirm`` retries it like a lost ack.
        """
        subject = self.subjects.for_event(event)
        future = await self._send(event, subject)
        telemetry.events_published.add(1, {"messaging.destination.name": subject})
        return future

    async def _send(self, event: Event, subject: str) -> asyncio.Future[PubAck]:
        try:
            if telemetry.tracing_enabled():
                # The producer span's context goes into the headers, so the consumer's span becomes its child.
                with telemetry.tracer.start_as_current_span(
                    f"publish {subject}", kind=SpanKind.PRODUCER,
                    attributes=telemetry.publish_attributes(subject, event),
                ):
                    return await self.js.publish_async(subject, event.to_json(), headers=self._headers(event))
            return await self.js.publish_async(subject, event.to_json(), headers=self._headers(event))
        except _TRANSIENT as exc:
            future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
            future.set_exception(exc)
            return future

    async def confirm(self, events: Sequence[Event], futures: Sequence[asyncio.Future[PubAck]]) -> list[Published]:
        """Wait for the acks of ``send``s, sending again what was not stored.

        ``PublishFailed`` names the first event still not stored after ``retry_for`` seconds (or at once, for an
        error a retry cannot fix).
        """
        if not futures:
            return []
        results = await self._acks(futures)
        failed = [i for i, result in enumerate(results) if not isinstance(result, PubAck)]
        if failed:
            await self._resend(events, results, failed)
        published: list[Published] = []
        for result in results:
            assert isinstance(result, PubAck)
            published.append(Published(result.stream, result.seq, bool(result.duplicate)))
        return published

    async def publish_many(self, events: Sequence[Event]) -> list[Published]:
        """Publish with up to 4,000 acks in flight; order on the wire is the order given."""
        futures = [await self.send(event) for event in events]
        return await self.confirm(events, futures)

    async def _acks(self, futures: Sequence[asyncio.Future[PubAck]]) -> list[PubAck | BaseException]:
        """Each future's ack or error; ``TimeoutError`` for those unanswered within the attempt's time."""
        # A server that fsyncs every write answers a batch only once it has written it all: a few ms a publish.
        wait = self.attempt_timeout + len(futures) * _PER_PUBLISH
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancellation racing completion.
            async with asyncio.timeout(wait):
                return await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            # The gather cancelled what was unanswered, which frees its slot in nats-py's pending acks.
            return [TimeoutError() if f.cancelled() else (f.exception() or f.result()) for f in futures]

    async def _resend(
        self, events: Sequence[Event], results: list[PubAck | BaseException], failed: list[int]
    ) -> None:
        """Send the ``failed`` events again, unchanged, in order, until stored or out of time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        pause, attempts, retried = _FIRST_PAUSE, 1, len(failed)
        while failed:
            first = results[failed[0]]
            assert isinstance(first, BaseException)
            await self._before_retry([events[i] for i in failed], first, attempts, deadline - loop.time() - pause)
            await asyncio.sleep(pause)
            pause, attempts = min(pause * 2, _MAX_PAUSE), attempts + 1
            again = await self._acks([await self._send(events[i], self.subjects.for_event(events[i])) for i in failed])
            for i, result in zip(failed, again, strict=True):
                results[i] = result
            failed = [i for i in failed if not isinstance(results[i], PubAck)]
        log.info("stored %d publishes after %d attempts", retried, attempts)

    async def _before_retry(self, events: Sequence[Event], exc: BaseException, attempts: int, left: float) -> None:
        """Raise ``PublishFailed`` unless another attempt makes sense; log the first retry of an episode."""
        event = events[0]
        subject = self.subjects.for_event(event)
        if not is_transient(exc) or left < 0:
            waited = f" after {attempts} attempts in {self.retry_for:.0f}s" if is_transient(exc) else ""
            raise PublishFailed(f"JetStream did not store {event.kind} {event.id} on {subject}{waited}: {exc!r}; "
                                f"{_HINT}") from exc
        if isinstance(exc, NoStreamResponseError) and not await self._stream_exists(subject):
            raise PublishFailed(f"JetStream did not store {event.kind} {event.id}: no stream takes {subject}; "
                                f"{_HINT}") from exc
        if attempts == 1:
            log.warning("JetStream did not store %d publishes (first %s %s on %s): %r; sending again with the "
                        "same Nats-Msg-Id for up to %.0fs", len(events), event.kind, event.id, subject, exc,
                        self.retry_for)

    async def _stream_exists(self, subject: str) -> bool:
        """Whether a stream takes ``subject`` (no responders also means "no stream"); unsure counts as yes."""
        if subject in self._known_subjects:
            return True
        try:
            await self.nc.jetstream(timeout=self.attempt_timeout).find_stream_name_by_subject(subject)
        except NotFoundError:
            return False
        except (nats.errors.Error, TimeoutError):
            return True  # the meta leader is away too: an election, not a missing stream
        self._known_subjects.add(subject)
        return True
