"""Publishing events to JetStream with idempotent ids.

Every publish sets ``Nats-Msg-Id`` to the event's ``Id`` and waits for the stream's ack, so a retry inside
the stream's duplicate window is stored once and reported as a duplicate rather than an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NoStreamResponseError
from opentelemetry.trace import SpanKind

from ingenium import telemetry
from ingenium.errors import PublishFailed
from ingenium.events import Event
from ingenium.subjects import Subjects

MSG_ID = "Nats-Msg-Id"


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
    """The live bus: JetStream with ``Nats-Msg-Id`` dedup and trace context in headers."""

    def __init__(self, nc: Client, subjects: Subjects, *, timeout: float = 10.0) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=timeout, publish_async_max_pending=4000)
        self.subjects = subjects
        self._timeout = timeout

    def _headers(self, event: Event) -> dict[str, str]:
        return telemetry.inject({MSG_ID: event.id})

    async def publish(self, event: Event) -> Published:
        """Publish one event; raises ``PublishFailed`` if JetStream does not store it."""
        subject = self.subjects.for_event(event)
        with telemetry.tracer.start_as_current_span(
            f"publish {subject}",
            kind=SpanKind.PRODUCER,
            attributes=telemetry.publish_attributes(subject, event),
        ):
            try:
                ack = await self.js.publish(subject, event.to_json(), headers=self._headers(event))
            except (APIError, NoStreamResponseError, TimeoutError) as exc:
                raise PublishFailed(
                    f"JetStream did not store {event.kind} {event.id} on {subject}: {exc!r}; "
                    "run `ingenium streams init` if the streams are missing"
                ) from exc
        telemetry.events_published.add(1, {"messaging.destination.name": subject})
        return Published(ack.stream, ack.seq, bool(ack.duplicate))

    async def send(self, event: Event) -> asyncio.Future[PubAck]:
        """Put one event on the wire without waiting for its ack; await the returned future (or ``confirm``)."""
        subject = self.subjects.for_event(event)
        if telemetry.tracing_enabled():
            # The producer span's context goes into the headers, so the consumer's span becomes its child.
            with telemetry.tracer.start_as_current_span(
                f"publish {subject}", kind=SpanKind.PRODUCER, attributes=telemetry.publish_attributes(subject, event)
            ):
                future = await self.js.publish_async(subject, event.to_json(), headers=self._headers(event))
        else:
            future = await self.js.publish_async(subject, event.to_json(), headers=self._headers(event))
        telemetry.events_published.add(1, {"messaging.destination.name": subject})
        return future

    async def confirm(self, events: Sequence[Event], futures: Sequence[asyncio.Future[PubAck]]) -> list[Published]:
        """Wait for the acks of ``send``s; raises ``PublishFailed`` naming the first event not stored."""
        if not futures:
            return []
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), timeout=self._timeout + len(futures) / 1000
            )
        except TimeoutError as exc:
            for future in futures:
                future.cancel()
            raise PublishFailed(
                f"JetStream did not acknowledge {len(futures)} publishes within {self._timeout}s; is the server up?"
            ) from exc
        published: list[Published] = []
        for event, result in zip(events, results, strict=True):
            if isinstance(result, BaseException):
                raise PublishFailed(
                    f"JetStream did not store {event.kind} {event.id}: {result!r}; "
                    "run `ingenium streams init` if the streams are missing"
                ) from result
            published.append(Published(result.stream, result.seq, bool(result.duplicate)))
        return published

    async def publish_many(self, events: Sequence[Event]) -> list[Published]:
        """Publish with up to 4,000 acks in flight; order on the wire is the order given."""
        futures = [await self.send(event) for event in events]
        return await self.confirm(events, futures)
