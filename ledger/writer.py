"""Writing batches in stream order, one statement each, planning the next while the last one is written.

The writing connection holds the projector lock; planning reads through a second connection, which sees only
what was committed, while ``ProjectorCache`` holds what the batch in flight changed. A batch of orders that
executions recorded before them wait for waits until nothing is in flight, then is planned and written inside
its own transaction (reconciling writes).

Batches are planned without checking their ids against the audit trail (``ledger.batch``), except those up to
``verify_until``: the ones a write refused for repeating an event recorded before (``UnverifiedCopy``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import asyncpg

from ledger import batch_sql
from ledger.batch import BatchResult, DeadLetter, LedgerStreams, Plan, plan_batch, project_batch
from ledger.messages import Kind, Parsed
from ledger.projector_cache import ProjectorCache

#: Called after each commit, with the batch and when its work started (ns since the epoch).
Committed = Callable[[BatchResult, int], None]


class Writer:
    """Writes batches handed to ``submit`` in order, at most one in flight while the next is planned.

    Args:
        conn: The writing connection (it holds the lock).
        planner: A second connection, for the reads of planning.
        streams: The ledger's streams.
        checkpoints: The committed checkpoint of each stream.
        memory: The session's ``ProjectorCache``.
        dead_letter: Where unparseable messages go.
        committed: Called after each commit.
        verify_until: Per stream, the last sequence of batches whose ids are checked against the audit trail.

    """

    def __init__(
        self,
        conn: asyncpg.Connection,
        planner: asyncpg.Connection,
        streams: LedgerStreams,
        checkpoints: dict[str, int],
        memory: ProjectorCache,
        dead_letter: DeadLetter,
        committed: Committed,
        verify_until: dict[str, int] | None = None,
    ) -> None:
        self.conn = conn
        self.planner = planner
        self.streams = streams
        self.planned = dict(checkpoints)
        self.memory = memory
        self.dead_letter = dead_letter
        self.committed = committed
        self.verify_until = verify_until if verify_until is not None else {}
        self._in_flight: asyncio.Task[None] | None = None

    async def submit(self, kind: Kind, batch: list[Parsed]) -> None:
        """Plan a batch and start writing it; a batch of orders some executions wait for is reconciled, alone."""
        stream = self.streams.name(kind)
        started = time.time_ns()
        if kind == "order" and await self._waited_for(batch):
            await self.drain()
            async with self.conn.transaction():
                result = await project_batch(
                    self.conn, self.streams, kind, batch, checkpoint=self.planned[stream], memory=self.memory,
                    dead_letter=self.dead_letter,
                )
            self.planned[stream] = result.last_sequence
            self.committed(result, started)
            return
        plan = await plan_batch(
            self.planner, self.streams, kind, batch, checkpoint=self.planned[stream], memory=self.memory,
            dead_letter=self.dead_letter, reconcile_orders=False,
            verify=batch[0].message.sequence <= self.verify_until.get(stream, 0),
        )
        self.planned[stream] = plan.result.last_sequence
        await self.drain()
        self._in_flight = asyncio.create_task(self._write(plan, started), name="ledger-write")

    async def _waited_for(self, batch: list[Parsed]) -> bool:
        """Whether executions recorded before them wait for orders of this batch (committed or in flight)."""
        order_ids = {item.event_id for item in batch if item.event_id is not None}
        return bool(order_ids & self.memory.waiting) or await batch_sql.any_waiting(self.planner, order_ids)

    async def _write(self, plan: Plan, started: int) -> None:
        await plan.write(self.conn)  # one statement: atomic without a transaction, and one round trip
        self.memory.confirm(plan.stream, plan.event_ids, plan.waiting)
        self.committed(plan.result, started)

    async def drain(self) -> None:
        """Wait until the batch in flight, if any, is committed (raising what made it fail)."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    async def abort(self) -> None:
        """Stop waiting for the batch in flight, if any.

        Its one statement may still commit on the server (or roll back): the caller ends the session, and the next
        one reloads the checkpoints once it holds the lock, which the old connection keeps until it is gone.
        """
        task, self._in_flight = self._in_flight, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
