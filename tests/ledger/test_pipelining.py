"""Planning a batch while the last one commits: an execution in both is still recognised as a copy.

The projector plans the next batch through a second connection while the last one is written. Here that
write commits, and leaves ``ProjectorCache``'s unconfirmed ids, while the planning query is at PostgreSQL: the
query's snapshot is older than the commit. A fresh-clone run of ``tests/ledger/test_crash.py`` once hit this window
and projected one fill twice (a UniqueViolation on ``ledger_fills_pkey``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, cast

import asyncpg

from ingenium.config import Settings
from ingenium.testing import T0, fill, order
from ledger import batch_sql
from ledger.batch import LedgerStreams, plan_batch
from ledger.messages import Message, parse
from ledger.projector_cache import ProjectorCache

STREAMS = LedgerStreams("ORDERS", "EXECUTIONS")


class CommitsDuringTheRead:
    """The planning connection, with ``during`` run after its audit-trail read and before the read returns."""

    def __init__(self, conn: asyncpg.Connection, during: Callable[[], Awaitable[None]]) -> None:
        self.conn, self.during = conn, during

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(query, *args)
        if "FROM ledger_events" in query:
            await self.during()
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def test_a_copy_of_an_execution_committed_during_planning_is_a_duplicate(ledger_settings: Settings) -> None:
    assert ledger_settings.database_url
    writer = await asyncpg.connect(ledger_settings.database_url)
    planner = await asyncpg.connect(ledger_settings.database_url)
    try:
        await batch_sql.open_cash(writer, Decimal(1000))
        await batch_sql.load_checkpoints(writer, ["ORDERS", "EXECUTIONS"])
        execution = fill(order("aapl", quantity="2"), "2", "100").to_json()
        memory = ProjectorCache(100)
        first = await plan_batch(
            planner, STREAMS, "execution", [parse(Message("EXECUTIONS", 1, "e", execution, None, T0), "execution")],
            checkpoint=0, memory=memory, reconcile_orders=False,
        )
        assert len(first.fills) == 1

        async def commit_first() -> None:  # what Writer._write does
            await first.write(writer)
            memory.confirm(first.stream, first.event_ids, first.waiting)

        copy = parse(Message("EXECUTIONS", 2, "e", execution, None, T0), "execution")
        second = await plan_batch(
            cast(asyncpg.Connection, CommitsDuringTheRead(planner, commit_first)), STREAMS, "execution", [copy],
            checkpoint=1, memory=memory, reconcile_orders=False,
        )
        assert (second.fills, second.result.duplicates) == ([], 1)
        await second.write(writer)
        assert await writer.fetchval("SELECT count(*) FROM ledger_fills") == 1
        assert await writer.fetchval("SELECT count(*) FROM ledger_events WHERE duplicate") == 1
    finally:
        await writer.close()
        await planner.close()
