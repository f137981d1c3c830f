"""Projecting one batch of one stream: audit rows, projections and the stream's checkpoint, in one transaction.

A batch is first planned (rows it touches loaded in bulk, or taken from ``ProjectorCache``; changed in memory by
``ledger.projection``; every row to write built), then written with the checkpoint in one statement
(``ledger.batch_write``).
Planning an execution batch only reads, so the projector plans the next one while the last one is written;
an order batch may reconcile executions that came before it, which writes, so it is planned inside its own
transaction once nothing else is in flight.

Events are deduplicated by their own ids (the order's or cancel request's ``Id``, the execution's ``ExecId``)
against the audit trail, so a copy published after JetStream's duplicate window changes nothing but is still
recorded. The live writer plans without asking PostgreSQL (``verify=False``): it checks the ids against what its
session recorded, and leaves a copy of anything older to the audit trail's unique index, which refuses the whole
statement (``UnverifiedCopy``); the batch is then planned again with the check. That saves a round trip per batch
on the way from a fill to its row, and copies that old are rare. Cancel requests and their answers go to
``ledger_cancels`` (``ledger.cancels``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from ingenium.config import Settings
from ingenium.events import CancelRequest, ExecutionEvent, OrderEvent
from ledger import batch_sql, cancels
from ledger.batch_write import write_batch
from ledger.messages import Kind, Parsed, is_cancel
from ledger.projection import (
    apply_cash,
    apply_execution,
    apply_fill,
    empty_position,
    fill_row,
    is_fill,
    open_order,
    unknown_order,
)
from ledger.projector_cache import ProjectorCache
from ledger.reconcile import reconcile
from ledger.rows import Anomaly, FillRow, OrderState, PositionState
from ledger.tables import AnomalyKind

#: Called with each message that cannot be parsed, before the batch commits (the dead-letter stream, live).
DeadLetter = Callable[[Parsed], Awaitable[None]]
Row = tuple[object, ...]

#: The unique indexes that refuse a second record of one event: the audit trail's ids, fills and orders.
_COPY_INDEXES = frozenset({"ledger_events_event_id", "ledger_fills_pkey", "ledger_orders_pkey"})


class UnverifiedCopy(RuntimeError):
    """A batch planned without checking its ids against the audit trail repeats an event recorded before.

    Nothing of it was written; the session ends, and the projector plans the batch again with the check.
    """

    def __init__(self, stream: str, after: int, last: int) -> None:
        super().__init__(f"the batch of {stream} after #{after} up to #{last} repeats an event recorded before this "
                         "session; ending the session, planning it again against the audit trail")
        self.stream = stream
        self.last_sequence = last


@dataclass(frozen=True, slots=True)
class LedgerStreams:
    """Names of the two streams the ledger projects."""

    order: str
    execution: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerStreams:
        """Name the streams of ``settings``' namespace."""
        return cls(settings.subjects.stream("order"), settings.subjects.stream("execution"))

    def name(self, kind: Kind) -> str:
        """Name the stream of one kind of event."""
        return self.order if kind == "order" else self.execution

    @property
    def kinds(self) -> tuple[tuple[Kind, str], ...]:
        """(kind, stream) pairs, orders first."""
        return (("order", self.order), ("execution", self.execution))


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch did; ``parsed`` holds its messages with their events."""

    kind: Kind
    last_sequence: int
    duplicates: int
    parsed: list[Parsed]

    @property
    def events(self) -> int:
        """Messages in the batch."""
        return len(self.parsed)

    @property
    def invalid(self) -> int:
        """Messages that could not be parsed (dead-lettered)."""
        return sum(1 for item in self.parsed if item.error is not None)


@dataclass(slots=True)
class Plan:
    """A planned batch: every row it writes, already built, and the checkpoint it moves from and to."""

    result: BatchResult
    stream: str
    checkpoint: int
    audit: list[Row] = field(default_factory=list)
    fills: list[Row] = field(default_factory=list)
    new_orders: list[Row] = field(default_factory=list)
    changed_orders: list[Row] = field(default_factory=list)
    positions: list[Row] = field(default_factory=list)
    cash: Row | None = None
    anomalies: list[Row] = field(default_factory=list)
    cancel_requests: list[Row] = field(default_factory=list)
    cancel_outcomes: list[Row] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    #: Whether the ids were checked against the audit trail, not only against the session's memory.
    verified: bool = True

    async def write(self, conn: asyncpg.Connection) -> None:
        """Write the rows and move the checkpoint, in one statement (atomic without a transaction).

        Raises ``UnverifiedCopy`` (nothing written) when an unverified plan repeats an event recorded before.
        """
        try:
            await self._write(conn)
        except asyncpg.UniqueViolationError as exc:
            if self.verified or exc.constraint_name not in _COPY_INDEXES:
                raise
            raise UnverifiedCopy(self.stream, self.checkpoint, self.result.last_sequence) from exc

    async def _write(self, conn: asyncpg.Connection) -> None:
        await write_batch(conn, self.stream, self.checkpoint, self.result.last_sequence, {
            "audit": self.audit, "fills": self.fills, "new_orders": self.new_orders,
            "changed_orders": self.changed_orders, "positions": self.positions,
            "cash": [self.cash] if self.cash is not None else [], "anomalies": self.anomalies,
            "cancel_requests": self.cancel_requests, "cancel_outcomes": self.cancel_outcomes,
        })


@dataclass
class _Changes:
    """What planning a batch changed, turned into rows at its end (the objects keep changing afterwards)."""

    audit: list[Row] = field(default_factory=list)
    fills: list[FillRow] = field(default_factory=list)
    orders: dict[str, OrderState] = field(default_factory=dict)
    positions: dict[str, PositionState] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    cash_changed: bool = False
    cancel_requests: list[Row] = field(default_factory=list)
    cancel_outcomes: list[Row] = field(default_factory=list)

    def plan(self, result: BatchResult, stream: str, checkpoint: int, memory: ProjectorCache, *, new: bool) -> Plan:
        orders = [order.row() for order in self.orders.values()]
        return Plan(
            result, stream, checkpoint, self.audit, [f.row() for f in self.fills],
            orders if new else [], [] if new else orders, [p.row() for p in self.positions.values()],
            memory.cash.row() if self.cash_changed and memory.cash is not None else None,
            [a.row() for a in self.anomalies], self.cancel_requests, self.cancel_outcomes,
        )


def _last_sequence(stream: str, parsed: Sequence[Parsed], checkpoint: int) -> int:
    previous = checkpoint
    for item in parsed:
        message = item.message
        if message.stream != stream or message.sequence <= previous:
            raise ValueError(f"batch out of order: {message.stream} #{message.sequence} after #{previous} of {stream}")
        previous = message.sequence
    return previous


async def plan_batch(
    conn: asyncpg.Connection,
    streams: LedgerStreams,
    kind: Kind,
    parsed: Sequence[Parsed],
    *,
    checkpoint: int,
    memory: ProjectorCache,
    dead_letter: DeadLetter | None = None,
    reconcile_orders: bool = True,
    verify: bool = True,
) -> Plan:
    """Plan parsed messages of one stream (in stream order, all after ``checkpoint``).

    Planning reads through ``conn``, which may be a connection that sees only what was committed: what batches
    written but not committed yet changed is in ``memory``. Only reconciling orders with executions that came
    before them writes: with ``reconcile_orders``, ``conn`` must be the writing connection, inside the
    transaction that then writes the plan; without, the caller has made sure no execution waits for these orders.
    Without ``verify``, ids are checked only against what this session recorded (``ProjectorCache.recorded``).
    """
    stream = streams.name(kind)
    last = _last_sequence(stream, parsed, checkpoint)
    batch = list(parsed)
    if dead_letter is not None:
        for item in batch:
            if item.error is not None:
                await dead_letter(item)
    if kind == "order":
        changes, duplicates, new = await _plan_orders(conn, streams, batch, memory, reconcile_orders, verify)
    else:
        changes, duplicates, new = await _plan_executions(conn, streams, batch, memory, verify)
    plan = changes.plan(BatchResult(kind, last, duplicates, batch), stream, checkpoint, memory, new=kind == "order")
    plan.event_ids = new
    plan.verified = verify
    plan.waiting = {a.order_id for a in changes.anomalies if a.kind is AnomalyKind.UNKNOWN_ORDER and a.order_id}
    memory.unconfirmed_in(stream).update(plan.event_ids)
    memory.waiting.update(plan.waiting)
    return plan


async def project_batch(
    conn: asyncpg.Connection,
    streams: LedgerStreams,
    kind: Kind,
    parsed: Sequence[Parsed],
    *,
    checkpoint: int,
    memory: ProjectorCache,
    dead_letter: DeadLetter | None = None,
) -> BatchResult:
    """Plan and write one batch in the caller's transaction (nothing else in flight).

    ``memory`` is changed before the transaction commits: a caller whose transaction fails must drop it.
    Raises ``batch_sql.CheckpointMoved`` if the stream's checkpoint is not at ``checkpoint`` any more.
    """
    plan = await plan_batch(conn, streams, kind, parsed, checkpoint=checkpoint, memory=memory,
                            dead_letter=dead_letter)
    await plan.write(conn)
    memory.confirm(plan.stream, plan.event_ids, plan.waiting)  # this connection now reads them
    return plan.result


async def _seen(
    conn: asyncpg.Connection, stream: str, ids: set[str], memory: ProjectorCache, verify: bool
) -> set[str]:
    """Which of ``ids`` were recorded before: by this session (in flight or lately), or else committed.

    The session's memory is read first: a batch that commits while the query runs leaves the ids in flight
    (``confirm``), and its rows may be newer than the query's snapshot; read after the query, its ids would be in
    neither.
    """
    known = memory.recorded(stream, ids)
    if not verify:
        return known
    return await batch_sql.seen_event_ids(conn, stream, ids) | known


async def _plan_orders(
    conn: asyncpg.Connection,
    streams: LedgerStreams,
    batch: list[Parsed],
    memory: ProjectorCache,
    reconcile_orders: bool,
    verify: bool,
) -> tuple[_Changes, int, set[str]]:
    changes = _Changes()
    ids = {item.event_id for item in batch if item.event_id is not None}
    seen = await _seen(conn, streams.order, ids, memory, verify)
    duplicates = 0
    for item in batch:
        event = item.event
        duplicate = event is not None and event.id in seen
        changes.audit.append(batch_sql.audit_row(item, "cancel" if is_cancel(item.message.subject) else "order",
                                             duplicate))
        if event is None:
            continue
        if duplicate:
            duplicates += 1
            continue
        seen.add(event.id)
        if isinstance(event, CancelRequest):
            changes.cancel_requests.append(cancels.request_row(event, item.message.sequence))
        elif isinstance(event, OrderEvent):
            changes.orders[event.id] = open_order(event, item.message.sequence)
    if reconcile_orders:
        reconciled = await reconcile(conn, streams.execution, changes.orders, memory)
        changes.anomalies += reconciled.anomalies
        changes.positions.update(reconciled.positions)
        changes.cash_changed = reconciled.cash_changed
    memory.keep(changes.orders.values())
    return changes, duplicates, set(changes.orders) | {str(row[0]) for row in changes.cancel_requests}


async def _plan_executions(
    conn: asyncpg.Connection, streams: LedgerStreams, batch: list[Parsed], memory: ProjectorCache, verify: bool
) -> tuple[_Changes, int, set[str]]:
    changes = _Changes()
    stream = streams.execution
    events = [item.event for item in batch if isinstance(item.event, ExecutionEvent)]
    ids = {item.event_id for item in batch if item.event_id is not None}
    seen = await _seen(conn, stream, ids, memory, verify)
    fills = {event.fill_id for event in events if is_fill(event)}
    orders = await memory.orders(conn, {event.order_id for event in events})
    positions = await memory.positions_of(conn, {event.symbol for event in events if is_fill(event)})
    cash = await memory.cash_account(conn) if fills else None
    duplicates = 0
    new: set[str] = set()
    for item in batch:
        event, fill_id = item.event, item.event_id
        if not isinstance(event, ExecutionEvent) or fill_id is None:
            changes.audit.append(batch_sql.audit_row(item, "execution", False))
            continue
        if fill_id in seen:
            changes.audit.append(batch_sql.audit_row(item, "execution", True))
            duplicates += 1
            continue
        changes.audit.append(batch_sql.audit_row(item, "execution", False))
        seen.add(fill_id)
        new.add(fill_id)
        sequence = item.message.sequence
        answer = cancels.outcome_row(event, sequence)
        if answer is not None:
            changes.cancel_outcomes.append(answer)
        order = orders.get(event.order_id)
        if cash is not None and fill_id in fills:
            fill = fill_row(event, event.side or (order.side if order else None), sequence)
            changes.fills.append(fill)
            if fill.side is not None:
                position = positions.get(fill.symbol)
                if position is None:
                    position = positions[fill.symbol] = memory.positions[fill.symbol] = empty_position(
                        fill.symbol, fill.executed_at
                    )
                changes.positions[fill.symbol] = position
                apply_fill(position, fill)
                apply_cash(cash, fill)
                changes.cash_changed = True
        if order is None:
            changes.anomalies.append(unknown_order(event, stream, sequence))
            continue
        changes.anomalies += apply_execution(order, event, stream, sequence)
        changes.orders[order.order_id] = order
    memory.keep(orders.values())
    return changes, duplicates, new
