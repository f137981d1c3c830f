"""Running a component live on JetStream: durable pull consumers, acks, retries, dead letters, shutdown.

One durable pull consumer per stream the component reads, named ``<component>-<stream>``, so a restart
resumes where it stopped and replicas share the work. A message is acked only after its handler succeeded and
everything the handler emitted was stored. A failing handler is retried with a growing delay, or its message
dead-lettered with the reason and the consumer carries on (``ingenium.failures``).

A handler runs once per message. Handlers keep state (averages, a book, working orders), so running one again
for a message whose output JetStream did not store (a leader election outlasting the bus's retries) would apply
the message twice and emit something else, or nothing. That same output, with the same ids, is sent again instead,
until it is stored. Failures to reach JetStream from inside a handler (a key-value read during an election) are the
cluster's, not the message's: the handler is retried until they pass, and the message is never dead-lettered for
them. Both wait in place, and the messages after it with them, so a consumer's messages keep their order (a nak
would let later orders for a symbol overtake an earlier one); only a stop leaves the message to the next instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter, OrderedDict
from collections.abc import Coroutine, Sequence
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from pydantic import ValidationError

from ingenium import telemetry
from ingenium.bus import JetStreamBus
from ingenium.component import HANDLERS, Component, ComponentContext, Handler
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.consumers import bind_consumer, consumer_config, durable_name, ensure_consumer
from ingenium.discovery import announce, withdraw
from ingenium.errors import ConnectionFailed, PublishFailed, describe_validation_error
from ingenium.events import DataEvent, Event
from ingenium.failures import (
    dead_letter_message,
    jetstream_away,
    jetstream_unanswered,
    retry_or_dead_letter,
    wait_in_place,
)
from ingenium.ingestor import Ingestor
from ingenium.pull import PullConsumer
from ingenium.runmode import RunMode
from ingenium.sources import publish_schedule, publish_source
from ingenium.streams import ensure_streams
from ingenium.subjects import StreamKey

log = logging.getLogger("ingenium.runtime")

#: How many recently acked stream sequences a consumer remembers, to ack a redelivery without re-handling it.
_REMEMBERED = 10_000


def connection_name(component: Component) -> str:
    """The NATS connection name a component runs under, ``ingenium-<kind>-<name>`` (``ingenium status`` shows it)."""
    return f"ingenium-{component.kind}-{component.name}"


class Runner:
    """Runs one component against JetStream until stopped.

    Args:
        component: The component instance.
        settings: Where NATS is and how consumers behave.
        nc: An existing connection; the runner connects (and later drains) its own when ``None``.

    """

    def __init__(self, component: Component, settings: Settings, *, nc: Client | None = None) -> None:
        self.component = component
        self.settings = settings
        self.subjects = settings.subjects
        self._nc = nc
        self._own_connection = nc is None
        self._stopping = asyncio.Event()
        self._handler_lock = asyncio.Lock()
        #: Held while one handler's output is put on the wire: outputs go out in the order their handlers
        #: finished, even when a send waits (for nats-py's pending-ack slots), so an executor's fill from a bar
        #: never overtakes the report of the order it fills.
        self._send_lock = asyncio.Lock()
        self._handlers = {
            key: (HANDLERS[key][1], component.handler(key), component.handler_is_async(key))
            for key in component.consumes()
        }
        #: Handlers of events that share a stream with another kind (cancel requests on the order stream), by
        #: subject: one consumer reads both, so a cancel is handled after the order it names.
        self._shared: dict[str, tuple[type[Event], Handler, bool]] = {
            self.subjects.kind_subject(kind): (model, handler, is_async)
            for key in component.consumes()
            for kind, model, handler, is_async in component.routes(key)
            if kind != key
        }
        #: The data subjects of a component of some symbols: a server before 2.10 ignores a consumer's several
        #: filters and delivers every symbol, so the others are acked here without reaching ``on_data``.
        self._data_subjects = frozenset(map(self.subjects.data, component.symbols)) if component.symbols else None
        self.ready = asyncio.Event()
        #: Messages acked after their handler succeeded, and messages sent to the dead-letter stream.
        self.handled = 0
        self.dead_lettered = 0

    def stop(self) -> None:
        """Ask the runner to stop: no new fetches; what is in flight finishes and is acked."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, create consumers, call ``on_start``, consume until stopped (or an ingestor is done)."""
        nc = self._nc or await connect_nats(self.settings, name=connection_name(self.component))
        self._nc = nc
        bus = JetStreamBus(nc, self.subjects, retry_for=self.settings.publish_retry_seconds)
        self.component.context = ComponentContext(settings=self.settings, bus=bus, mode=RunMode.LIVE, nc=nc)
        try:
            subscriptions = await self._bind(bus.js)
            if not await self._unless_stopped(self.component.on_start()):
                return  # stopped while starting (a recovery waiting for its database, say)
            component = self.component
            service = await announce(
                nc, name=component.name, kind=component.kind,
                cls=f"{type(component).__module__}:{type(component).__qualname__}",
                params=component.params.model_dump(mode="json"), symbols=component.symbols,
                consumers=[(self.subjects.stream(key), f"{component.name}-{key}") for key, _ in subscriptions],
            )
            tasks = [asyncio.create_task(self._consume(bus, key, sub)) for key, sub in subscriptions]
            if isinstance(self.component, Ingestor):
                tasks.append(asyncio.create_task(self._produce(self.component)))
            # Beside the consumers until the stop: the lag gauge, the component's scheduled outputs and its own sources.
            watchers = [
                asyncio.create_task(telemetry.watch_consumer_lag([s for _, s in subscriptions], self._stopping)),
                *(asyncio.create_task(publish_schedule(component, schedule, bus, handler_lock=self._handler_lock,
                                                       send_lock=self._send_lock, stopping=self._stopping))
                  for schedule in component.schedules()),
                *(asyncio.create_task(publish_source(component, source, bus, handler_lock=self._handler_lock,
                                                     send_lock=self._send_lock, stopping=self._stopping))
                  for source in component.sources()),
            ]
            self.ready.set()
            log.info("%s", self._started_line(subscriptions))
            stopper = asyncio.create_task(self._stopping.wait())
            try:
                await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # Cancelled from outside (Ctrl-C in a process that runs it in-line): the consumers and the
                # producer stop too, before whoever owns the connection drains it under them.
                self._stopping.set()
                stopper.cancel()
                await asyncio.gather(*tasks, *watchers, return_exceptions=True)
                raise
            self._stopping.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            stopper.cancel()
            await asyncio.gather(*watchers)
            await withdraw(service)
            for _, sub in subscriptions:
                # Nothing more is fetched: stop the inbox before the connection drains.
                with contextlib.suppress(nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                    await sub.close()
            await self.component.on_stop()
            failure = next((r for r in results if isinstance(r, BaseException)), None)
            counts = f": {self.handled} messages handled, {self.dead_lettered} dead-lettered" if subscriptions else ""
            log.info("%s %s stopped%s%s", self.component.kind, self.component.name,
                     f" by {failure!r}" if failure else "", counts)
            if failure is not None:
                raise failure
        finally:
            if self._own_connection and not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.drain()

    async def _unless_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run ``work`` unless ``stop`` comes first (then cancel it); whether it finished."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.create_task(self._stopping.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return False
        task.result()
        return True

    def _started_line(self, subscriptions: Sequence[tuple[StreamKey, PullConsumer]]) -> str:
        kind, name = self.component.kind, self.component.name
        consumes = ", ".join(f"{sub.stream} as consumer {sub.consumer}" for _, sub in subscriptions)
        line = f"{kind} {name} started: consumes {consumes or 'nothing'}"
        if isinstance(self.component, Ingestor):
            line += f"; publishes to {self.subjects.stream('data')}"
        return line

    async def _produce(self, ingestor: Ingestor) -> None:
        run = asyncio.create_task(ingestor.run())
        stopper = asyncio.create_task(self._stopping.wait())
        await asyncio.wait([run, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not run.done():
            run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run

    async def _bind(self, js: JetStreamContext) -> list[tuple[StreamKey, PullConsumer]]:
        """Prepare the streams (unless provisioned) and bind the consumers, waiting out a JetStream that is away.

        A component started during a leader election (or while a node restarts) finds its streams unavailable for
        a while; it waits up to ``startup_wait_seconds``, then fails in one line.
        """
        deadline = time.monotonic() + self.settings.startup_wait_seconds
        waited = False
        while True:
            bound: list[tuple[StreamKey, PullConsumer]] = []
            try:
                if not self.settings.nats_provisioned:  # else `ingenium streams init` made them, with rights we lack
                    await ensure_streams(js, self.settings)
                for key in self.component.consumes():
                    bound.append((key, await self._subscribe(js, key)))
                return bound
            except Exception as exc:
                for _, consumer in bound:  # the next attempt binds them all again
                    await consumer.close()
                if not jetstream_unanswered(exc) or self._stopping.is_set():
                    raise
                if time.monotonic() >= deadline:
                    raise ConnectionFailed(
                        f"{self.component.name}: JetStream did not answer for its streams within "
                        f"{self.settings.startup_wait_seconds:g}s ({exc!r}): is the NATS cluster short of nodes "
                        "or still electing leaders? Raise INGENIUM_STARTUP_WAIT_SECONDS to wait longer"
                    ) from exc
                if not waited:
                    log.warning("%s: JetStream does not answer for its streams yet (%r); waiting up to %gs",
                                self.component.name, exc, self.settings.startup_wait_seconds)
                    waited = True
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(1.0, max(0.0, deadline - time.monotonic()))):
                        await self._stopping.wait()

    async def _subscribe(self, js: JetStreamContext, key: StreamKey) -> PullConsumer:
        durable = durable_name(self.component, key)
        stream = self.subjects.stream(key)
        config = consumer_config(self.component, self.settings, key)
        if self.settings.nats_provisioned:
            await bind_consumer(js, stream, config)
        else:
            await ensure_consumer(js, stream, config)
        consumer = PullConsumer(self._nc_or_fail(), stream, durable, batch=self.settings.fetch_batch)
        await consumer.start()
        return consumer

    def _nc_or_fail(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the runner is not connected")
        return self._nc

    async def _consume(self, bus: JetStreamBus, key: StreamKey, consumer: PullConsumer) -> None:
        handled: OrderedDict[int, None] = OrderedDict()
        while not self._stopping.is_set():
            try:
                msgs = await consumer.fetch()
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
                if self._stopping.is_set():
                    return
                raise
            if msgs:
                await self._handle_batch(bus, key, msgs, handled)

    async def _handle_batch(
        self, bus: JetStreamBus, key: StreamKey, msgs: Sequence[Msg], handled: OrderedDict[int, None]
    ) -> None:
        component = self.component
        consumer = f"{component.name}-{key}"
        tracing = telemetry.tracing_enabled()
        pending: list[tuple[Msg, int, list[Event], list[asyncio.Future[PubAck]]]] = []
        consumed: Counter[str] = Counter()
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq in handled:
                # Handled and acked before, but the ack was lost: ack again, do not apply twice.
                await msg.ack()
                continue
            headers = msg.headers
            if tracing or (headers and "traceparent" in headers):
                with telemetry.consume_span(msg, consumer, component=component.name) as span:
                    outcome = await self._handle_one(bus, key, msg, span)
            else:  # the hot path without an SDK or a trace to continue: no span machinery at all
                outcome = await self._handle_one(bus, key, msg, trace.INVALID_SPAN)
            if outcome is not None:
                pending.append((msg, seq, *outcome))
        for msg, seq, emitted, futures in pending:
            if not await self._store(bus, msg, emitted, futures):
                continue
            await msg.ack()
            self.handled += 1
            handled[seq] = None
            if len(handled) > _REMEMBERED:
                handled.popitem(last=False)
            consumed[msg.subject] += 1
        for subject, count in consumed.items():  # counted per batch: this loop is the consumer's hot path
            telemetry.events_consumed.add(count, {"messaging.destination.name": subject, "outcome": "ok"})

    async def _handle_one(
        self, bus: JetStreamBus, key: StreamKey, msg: Msg, span: Span
    ) -> tuple[list[Event], list[asyncio.Future[PubAck]]] | None:
        """Parse and handle one message, and send what the handler emitted; ``None`` if it was not handled."""
        component = self.component
        if key == "data" and self._data_subjects is not None and msg.subject not in self._data_subjects:
            return [], []  # another symbol's data (see ``_data_subjects``): acked, not handled
        shared = self._shared.get(msg.subject) if self._shared else None
        model, handler, is_async = shared if shared is not None else self._handlers[key]
        try:
            event = model.from_json(msg.data)
        except ValidationError as exc:
            reason = f"invalid {model.__name__}: {describe_validation_error(exc)}"
            span.set_status(Status(StatusCode.ERROR, reason))
            await dead_letter_message(bus, msg, reason, component=component.name)
            self.dead_lettered += 1
            return None
        if isinstance(event, DataEvent) and not component.wants_data(event):
            return [], []  # a trade or quote for a bar-only component: acked, not handled
        if span.is_recording():
            span.set_attributes(telemetry.event_attributes(event))
        started = time.perf_counter()
        attempt = 0
        try:
            while True:
                try:
                    if is_async:
                        # A component's consumers run as separate tasks: while an async handler awaits, another
                        # must not swap the event its ids derive from (begin) or take its outbox (collect).
                        async with self._handler_lock:
                            component.begin(event)
                            emitted = component.collect(await handler(event))  # type: ignore[misc]
                    else:
                        component.begin(event)
                        emitted = component.collect(handler(event))  # type: ignore[arg-type]
                    break
                except Exception as exc:
                    component.collect(None)
                    if jetstream_away(exc) and not self._stopping.is_set():
                        attempt += 1
                        await wait_in_place(msg, f"JetStream unavailable inside the handler: {exc!r}", attempt,
                                            component=component.name, settings=self.settings,
                                            stopping=self._stopping)
                        continue
                    telemetry.handler_errors.add(1, {"ingenium.component": component.name, "stream": key})
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, repr(exc)))
                    if await retry_or_dead_letter(bus, msg, exc, component=component.name, settings=self.settings):
                        self.dead_lettered += 1
                    return None
        finally:
            telemetry.handler_duration.record(
                time.perf_counter() - started, {"ingenium.component": component.name, "stream": key}
            )
        if not emitted:
            return emitted, []
        async with self._send_lock:
            return emitted, [await bus.send(e) for e in emitted]

    async def _store(
        self, bus: JetStreamBus, msg: Msg, emitted: list[Event], futures: list[asyncio.Future[PubAck]]
    ) -> bool:
        """Wait until what a handler emitted is stored, sending it again (same ids) for as long as it takes.

        ``False`` when the runner stopped first: the message is then left unacked, for the next instance.
        """
        attempt = 0
        while True:
            try:
                await bus.confirm(emitted, futures)
                return True
            except PublishFailed as exc:
                attempt += 1
                if not self._stopping.is_set():
                    await wait_in_place(msg, f"its output was not stored: {exc}", attempt,
                                        component=self.component.name, settings=self.settings,
                                        stopping=self._stopping)
                if self._stopping.is_set():
                    log.warning("%s: %s; stopping, so message %s is left to the next instance",
                                self.component.name, exc, msg.metadata.sequence.stream)
                    await msg.nak()
                    return False
                futures = [await bus.send(e) for e in emitted]


async def run_until_signalled(component: Component, settings: Settings) -> bool:
    """Run a component until SIGINT or SIGTERM (or an ingestor's end), then shut down cleanly.

    Returns whether a signal stopped it (what ``ingenium run`` and ``ingenium ingest`` run).
    """
    runner = Runner(component, settings)
    loop = asyncio.get_running_loop()
    signalled: list[int] = []

    def stop(sig: int) -> None:
        signalled.append(sig)
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await runner.run()
        return bool(signalled)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
