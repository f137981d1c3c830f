"""The projector: reads the order and execution streams and projects them into PostgreSQL, exactly once.

The order stream carries orders and cancel requests; the execution stream executions, some of which answer a
cancel request (``CancelId``).

One statement per batch writes the audit rows, the projections and the stream's checkpoint, so the checkpoint
in PostgreSQL is the position of record. On start, and after any reconnect, each stream is read again from its
checkpoint + 1 by direct get (``ingenium.streamread``). Only the holder of an advisory lock writes; another
projector started beside it waits as a hot standby and takes over when the lock is released (its holder stopped,
crashed or lost its database connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Coroutine
from typing import Any, Literal

import asyncpg
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

from ingenium import telemetry
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.deadletter import dead_letter
from ingenium.discovery import announce, withdraw
from ingenium.errors import ConnectionFailed
from ingenium.streamread import DirectGetError, StreamReader
from ingenium.streams import ensure_streams
from ledger import batch_sql
from ledger.batch import BatchResult, LedgerStreams, UnverifiedCopy
from ledger.config import LedgerConfig
from ledger.database import APPLICATION_NAME, connect, require_database_url
from ledger.lock import pause, wait_for_lock
from ledger.messages import Kind, Message, Parsed, parse
from ledger.projector_cache import ProjectorCache
from ledger.tracing import checkpointed, trace_batch
from ledger.writer import Writer

log = logging.getLogger("ingenium.ledger")

#: The component name the ledger dead-letters under.
COMPONENT = "ledger"

Role = Literal["starting", "standby", "active", "stopped"]

#: Messages parsed between two yields to the event loop.
_PARSE_SLICE = 50

#: Failures that end a session and are retried after ``LedgerConfig.retry_seconds``: the servers went away.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionFailed,
    batch_sql.CheckpointMoved,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    # What asyncpg raises when a statement meets a connection the server has just terminated but whose loss it
    # has not noticed yet ("another operation is in progress"). The session restarts from PostgreSQL, so safe.
    asyncpg.exceptions.InternalClientError,
    nats.errors.Error,
    # A direct get JetStream did not answer (restarting, electing a leader): the session resumes at the checkpoint.
    DirectGetError,
    TimeoutError,
)


class Projector:
    """Projects the order and execution streams into the ledger's tables until stopped.

    Args:
        settings: Where NATS and PostgreSQL are, and the namespace of the streams.
        config: Batching, lock polling and the opening cash balance; from ``INGENIUM_LEDGER_*`` by default.

    Run it with ``await Projector(settings).run(stop)``; it returns after ``stop`` is set, once the batch in
    flight has committed. ``active`` is set while this projector holds the lock and writes.

    """

    def __init__(self, settings: Settings, config: LedgerConfig | None = None) -> None:
        self.settings = settings
        self.config = config or LedgerConfig()
        self.database_url = require_database_url(settings)
        self.streams = LedgerStreams.from_settings(settings)
        self.role: Role = "starting"
        self.active = asyncio.Event()
        self.checkpoints: dict[str, int] = {}
        self.projected = 0
        self._stream_last: dict[str, int] = {}
        #: Per stream, up to where batches are planned against the audit trail (``ledger.writer``).
        self._verify_until: dict[str, int] = {}

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Project until ``stop`` is set, reconnecting after NATS or PostgreSQL failures."""
        stop = stop or asyncio.Event()
        nc = await connect_nats(self.settings, name="ingenium-ledger")
        try:
            if not self.settings.nats_provisioned:  # else `ingenium streams init` made them
                await ensure_streams(nc.jetstream(), self.settings)
            service = await announce(
                nc, name="ledger", kind="ledger", cls="ledger.projector:Projector",
                params={"starting_cash": str(self.config.starting_cash), "batch_size": self.config.batch_size},
            )
            while not stop.is_set():
                try:
                    await self._session(nc, stop)
                except UnverifiedCopy as exc:
                    log.info("ledger: %s", exc)
                    # Up to the stream's end as last seen: copies come in bursts (a sender resending its history),
                    # and each one met unverified would end another session.
                    self._verify_until[exc.stream] = max(
                        self._verify_until.get(exc.stream, 0), exc.last_sequence, self._stream_last.get(exc.stream, 0)
                    )
                except TRANSIENT as exc:
                    log.warning("ledger: %r; reconnecting in %.1fs", exc, self.config.retry_seconds)
                    await pause(stop, self.config.retry_seconds)
            await withdraw(service)
        finally:
            self.role = "stopped"
            self.active.clear()
            with contextlib.suppress(Exception):
                await nc.drain()

    async def _session(self, nc: Client, stop: asyncio.Event) -> None:
        conn = await connect(self.database_url)
        planner: asyncpg.Connection | None = None
        try:
            self.role = "standby"
            if not await wait_for_lock(conn, stop, self.config.lock_poll_seconds):
                return
            async with conn.transaction():
                await batch_sql.open_cash(conn, self.config.starting_cash)
                self.checkpoints = await batch_sql.load_checkpoints(conn, [s for _, s in self.streams.kinds])
            planner = await connect(self.database_url, application_name=f"{APPLICATION_NAME}-planner")
            self.role = "active"
            self.active.set()
            log.info("ledger: projecting from %s", self.checkpoints)
            await self._project(nc, conn, planner, stop)
        except BaseException:
            # Failed or cancelled mid-batch: drop the sockets now, so the server ends the sessions (a batch's
            # statement in flight commits or rolls back whole) and frees the lock.
            self.active.clear()
            for connection in (conn, planner):
                if connection is not None:
                    connection.terminate()
            raise
        else:
            self.active.clear()
            for connection in (conn, planner):
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=5)

    async def _project(
        self, nc: Client, conn: asyncpg.Connection, planner: asyncpg.Connection, stop: asyncio.Event
    ) -> None:
        js = nc.jetstream()
        over = asyncio.Event()
        arrived = asyncio.Event()
        queues: dict[Kind, asyncio.Queue[list[Parsed]]] = {kind: asyncio.Queue(4) for kind, _ in self.streams.kinds}
        readers = [
            asyncio.create_task(self._read(nc, kind, stream, queues[kind], arrived, over), name=f"ledger-read-{kind}")
            for kind, stream in self.streams.kinds
        ]
        streams = [name for _, name in self.streams.kinds]
        background = [
            *readers, asyncio.create_task(telemetry.watch_projection_lag(js, streams, over), name="ledger-lag")
        ]
        writer = Writer(conn, planner, self.streams, self.checkpoints, ProjectorCache(self.config.order_cache),
                        DeadLetterSink(js, self.settings, nc.max_payload), self._committed, self._verify_until)
        try:
            while not stop.is_set():
                # Orders first: an execution projected before its order must be reconciled later, at a cost.
                kind = next((k for k, _ in self.streams.kinds if not queues[k].empty()), None)
                if kind is None:
                    await writer.drain()
                    # Cleared and checked with no await between: a batch queued during the drain is not missed.
                    arrived.clear()
                    if all(queue.empty() for queue in queues.values()):
                        await _first([arrived.wait(), stop.wait()], watch=readers)
                    continue
                batch = queues[kind].get_nowait()
                # Each queued batch is under max_batch_bytes (``_read``), so a merged one stays under twice it.
                while (len(batch) < self.config.max_batch and not queues[kind].empty()
                       and message_bytes(batch) < self.config.max_batch_bytes):
                    batch = batch + queues[kind].get_nowait()
                await writer.submit(kind, batch)
            await writer.drain()
        finally:
            await writer.abort()
            over.set()
            for task in readers:
                task.cancel()
            # Bounded: nats-py swallows a cancellation that lands inside its flush, so tasks also watch ``over``.
            _, late = await asyncio.wait(background, timeout=5)
            for task in late:
                log.warning("ledger: %s did not stop within 5s", task.get_name())

    def _committed(self, result: BatchResult, started: int) -> None:
        stream = self.streams.name(result.kind)
        self.checkpoints[stream] = result.last_sequence
        self.projected += result.events
        trace_batch(result, started, time.time_ns())
        checkpointed(result, stream, self._stream_last.get(stream))
        log.debug(
            "ledger: %s up to #%s (%s events, %s duplicates, %s invalid)",
            result.kind, result.last_sequence, result.events, result.duplicates, result.invalid,
        )

    async def _read(
        self, nc: Client, kind: Kind, stream: str, queue: asyncio.Queue[list[Parsed]], arrived: asyncio.Event,
        over: asyncio.Event,
    ) -> None:
        reader = StreamReader(
            nc, stream, self.settings.subjects.stream_subjects(kind), self.checkpoints[stream] + 1,
            batch=self.config.batch_size, idle_check_seconds=self.config.consumer_check_seconds,
        )
        try:
            while not over.is_set():
                messages = await reader.read()
                if messages:
                    self._stream_last[stream] = messages[-1].sequence + (reader.pending or 0)
                    for part in cut_by_size(await _parse_all(messages, kind), self.config.max_batch_bytes):
                        await queue.put(part)
                        arrived.set()
        finally:
            await reader.close()


async def _first(waits: list[Coroutine[Any, Any, object]], *, watch: list[asyncio.Task[None]]) -> None:
    """Wait until one of ``waits`` returns or a ``watch``ed task ends (raising what it raised)."""
    tasks = [asyncio.create_task(w) for w in waits]
    try:
        done, _ = await asyncio.wait([*tasks, *watch], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()


async def _parse_all(messages: list[Message], kind: Kind) -> list[Parsed]:
    """Parse a fetched batch in the reader task, so parsing overlaps the writer's waits for PostgreSQL.

    Slices yield to the event loop, so the writer resumes promptly when PostgreSQL answers.
    """
    parsed: list[Parsed] = []
    for start in range(0, len(messages), _PARSE_SLICE):
        parsed += [parse(message, kind) for message in messages[start:start + _PARSE_SLICE]]
        await asyncio.sleep(0)
    return parsed


def message_bytes(batch: list[Parsed]) -> int:
    """The bytes of a batch's message bodies."""
    return sum(len(item.message.data) for item in batch)


def cut_by_size(batch: list[Parsed], limit: int) -> list[list[Parsed]]:
    """``batch`` in stream order, cut into runs of messages under ``limit`` bytes (a larger message alone)."""
    parts: list[list[Parsed]] = [[]]
    size = 0
    for item in batch:
        length = len(item.message.data)
        if parts[-1] and size + length >= limit:
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += length
    return parts if parts[-1] else []


def tune_garbage_collector(config: LedgerConfig) -> None:
    """Collect the youngest generation every ``config.gc_threshold`` allocations instead of 700.

    For a process that mainly projects (``ingenium ledger serve``); it changes the whole interpreter's collector.
    """
    if config.gc_threshold:
        gc.set_threshold(config.gc_threshold, *gc.get_threshold()[1:])


class DeadLetterSink:
    """Sends a message the ledger cannot parse to the dead-letter stream, with the reason."""

    def __init__(self, js: JetStreamContext, settings: Settings, max_payload: int | None = None) -> None:
        self.js = js
        self.settings = settings
        self.max_payload = max_payload

    async def __call__(self, parsed: Parsed) -> None:
        """Dead-letter one message; returns once JetStream stored it."""
        message = parsed.message
        log.error("ledger: dead-lettering %s #%s: %s", message.stream, message.sequence, parsed.error)
        await dead_letter(
            self.js, self.settings.subjects, component=COMPONENT, reason=parsed.error or "unparseable",
            payload=message.data, subject=message.subject, stream=message.stream, sequence=message.sequence,
            headers=message.headers, max_payload=self.max_payload,
        )
