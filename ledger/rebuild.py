"""Rebuilding every projection from the streams (from sequence 1) or from the audit trail, in one transaction.

A rebuild feeds the same batches through the same code as the live projector, so it ends byte for byte equal to
the live projection (``dump`` writes the tables out as PostgreSQL's COPY text to compare them). It holds the
projector lock, so stop ``ingenium ledger serve`` first. With ``check`` it compares and rolls back, leaving the
ledger untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import IngeniumError
from ingenium.streamread import StreamReader
from ledger import batch_sql
from ledger.batch import LedgerStreams, project_batch
from ledger.config import LedgerConfig
from ledger.database import connect, no_tables, require_database_url
from ledger.lock import holder_pid, wait_for_lock
from ledger.messages import Kind, Message, parse
from ledger.projector_cache import ProjectorCache
from ledger.tables import TABLE_NAMES, TABLES

Source = Literal["audit", "streams"]

Batches = AsyncIterator[tuple[Kind, list[Message]]]


class LedgerBusy(IngeniumError):
    """Another process holds the projector lock."""


class RebuildImpossible(IngeniumError):
    """The chosen source cannot reproduce the ledger (for example, the streams lost messages to retention)."""


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What a rebuild did: events replayed per stream, the tables that came out different, whether it committed."""

    source: Source
    events: dict[str, int] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    committed: bool = False


async def dump(conn: asyncpg.Connection) -> dict[str, bytes]:
    """Write out every ledger table as PostgreSQL's COPY text, rows in primary-key order."""
    tables: dict[str, bytes] = {}
    for model in TABLES:
        table = model.__table__  # type: ignore[attr-defined]
        order = ", ".join(column.name for column in table.primary_key.columns)
        chunks: list[bytes] = []

        async def collect(chunk: bytes, chunks: list[bytes] = chunks) -> None:
            chunks.append(chunk)

        await conn.copy_from_query(f"SELECT * FROM {table.name} ORDER BY {order}", output=collect)
        tables[table.name] = b"".join(chunks)
    return tables


async def dump_database(database_url: str) -> dict[str, bytes]:
    """Run ``dump`` over a fresh connection to ``database_url``."""
    conn = await connect(database_url, application_name="ingenium-ledger-dump")
    try:
        return await dump(conn)
    finally:
        await conn.close()


async def rebuild(
    settings: Settings,
    *,
    source: Source = "audit",
    check: bool = False,
    lock_wait: float = 10.0,
    config: LedgerConfig | None = None,
) -> RebuildReport:
    """Recompute the ledger from ``source`` in one transaction; with ``check``, compare only and roll back.

    Raises ``LedgerBusy`` if a projector holds the lock for ``lock_wait`` seconds, and ``RebuildImpossible`` if
    the source no longer holds every event.
    """
    config = config or LedgerConfig()
    streams = LedgerStreams.from_settings(settings)
    nc = await connect_nats(settings, name="ingenium-ledger-rebuild") if source == "streams" else None
    conn = await connect(require_database_url(settings), application_name="ingenium-ledger-rebuild")
    try:
        await _lock(conn, lock_wait)
        try:
            before = await dump(conn)
        except asyncpg.UndefinedTableError as exc:
            raise no_tables(require_database_url(settings)) from exc
        transaction = conn.transaction()
        await transaction.start()
        try:
            starting = await batch_sql.starting_balance(conn) or config.starting_cash
            if nc is None:
                await _snapshot_audit(conn, streams)
                batches = _audit_batches(conn, streams, config.max_batch)
            else:
                ends = await _stream_ends(nc.jetstream(), streams)
                batches = _stream_batches(nc, settings, streams, ends, config.batch_size)
            await conn.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
            await batch_sql.open_cash(conn, starting)
            # The memory lives in the rebuild's one transaction, which a failure rolls back with it.
            events = await _replay(conn, streams, batches, ProjectorCache(config.order_cache))
            after = await dump(conn)
        except BaseException:
            await transaction.rollback()
            raise
        if check:
            await transaction.rollback()
        else:
            await transaction.commit()
        changed = [name for name in before if before[name] != after[name]]
        return RebuildReport(source, events, changed, committed=not check)
    finally:
        await conn.close()
        if nc is not None:
            await nc.drain()


async def _lock(conn: asyncpg.Connection, lock_wait: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(lock_wait, stop.set)
    if not await wait_for_lock(conn, stop, min(0.2, lock_wait)):
        pid = await holder_pid(conn)
        raise LedgerBusy(
            f"a projector (PostgreSQL backend pid {pid}) holds the ledger lock; stop `ingenium ledger serve` "
            "before rebuilding, or pass a longer --lock-wait"
        )


async def _replay(
    conn: asyncpg.Connection, streams: LedgerStreams, batches: Batches, memory: ProjectorCache
) -> dict[str, int]:
    """Feed batches through ``project_batch`` from empty checkpoints; returns events per stream."""
    checkpoints = await batch_sql.load_checkpoints(conn, [name for _, name in streams.kinds])
    events = dict.fromkeys(checkpoints, 0)
    async for kind, messages in batches:
        name = streams.name(kind)
        parsed = [parse(message, kind) for message in messages]
        result = await project_batch(conn, streams, kind, parsed, checkpoint=checkpoints[name], memory=memory)
        checkpoints[name] = result.last_sequence
        events[name] += result.events
    return events


async def _snapshot_audit(conn: asyncpg.Connection, streams: LedgerStreams) -> None:
    """Copy the audit trail aside (a temporary table) before the tables are emptied."""
    foreign = await conn.fetch(
        "SELECT DISTINCT stream FROM ledger_events WHERE stream <> ALL($1::text[])", [n for _, n in streams.kinds]
    )
    if foreign:
        raise RebuildImpossible(
            f"the audit trail holds events of {', '.join(r['stream'] for r in foreign)}, not of this namespace's "
            "streams: set INGENIUM_NAMESPACE to the namespace this ledger projects"
        )
    await conn.execute(
        "CREATE TEMP TABLE ledger_replay ON COMMIT DROP AS SELECT stream, stream_sequence, subject, "
        "payload::text AS payload, raw, headers::text AS headers, received_at FROM ledger_events"
    )


async def _audit_batches(conn: asyncpg.Connection, streams: LedgerStreams, size: int) -> Batches:
    for kind, name in streams.kinds:
        cursor = await conn.cursor("SELECT * FROM ledger_replay WHERE stream = $1 ORDER BY stream_sequence", name)
        while rows := await cursor.fetch(size):
            yield kind, [batch_sql.audit_message(row) for row in rows]


async def _stream_ends(js: JetStreamContext, streams: LedgerStreams) -> dict[str, int]:
    """Return the last sequence of each stream now; raise if a stream no longer starts at sequence 1."""
    ends: dict[str, int] = {}
    for _, name in streams.kinds:
        state = (await js.stream_info(name)).state
        if state.first_seq > 1:
            raise RebuildImpossible(
                f"stream {name} no longer holds sequences 1 to {state.first_seq - 1} (retention or purge): "
                "rebuild from the audit trail instead (--source audit)"
            )
        ends[name] = state.last_seq
    return ends


async def _stream_batches(
    nc: Client, settings: Settings, streams: LedgerStreams, ends: dict[str, int], size: int
) -> Batches:
    for kind, name in streams.kinds:
        last = ends[name]
        reader = StreamReader(nc, name, settings.subjects.stream_subjects(kind), 1, batch=size)
        try:
            done = 0
            while done < last:
                messages = await reader.read()
                wanted = [m for m in messages if m.sequence <= last]
                if wanted:
                    yield kind, wanted
                    done = wanted[-1].sequence
                if len(wanted) < len(messages) or (not messages and reader.pending == 0):
                    break  # past the end seen at the start, or the rest of it was deleted
        finally:
            await reader.close()
