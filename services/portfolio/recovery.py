"""Recovering the portfolio's book on start: from the ledger's tables, then the stream messages not projected yet.

The ledger's tables are a consistent snapshot up to its checkpoints (one per stream). What came after the
checkpoints is read straight from the order and execution streams, so a lagging ledger loses nothing. Fills the
portfolio's execution consumer will deliver again (everything after its ack floor) are remembered as applied,
so they are not counted twice. Signals its signal consumer will deliver again are skipped up to the last one that
produced an order, so they are not decided twice against a book that already holds their effect; the later ones
it had delivered to the dead process but not seen acknowledged are decided first, before anything newer, and their
redelivery skipped. Streams are read by direct get (``ingenium.streamread``): no consumer is created or deleted,
which the portfolio has no right to (issue #14). Without a
database the book is rebuilt from the streams alone. A database without the ledger's tables yet (the portfolio
started before ``ingenium ledger migrate``) is waited for: one log line, then a check with a growing pause.

The ledger is read through ``ledger.queries``; what is found is handed to the portfolio as a ``PortfolioState``
(``RiskPortfolio.restore``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.component import Component
from ingenium.events import ExecutionEvent, OrderEvent, Side, SignalEvent
from ingenium.streamread import read_stream
from ledger import queries
from ledger.database import connect
from ledger.roles import ensure_reader
from services.portfolio.book import Book, OpenOrder, Position
from services.portfolio.state import PortfolioState

E = TypeVar("E", OrderEvent, ExecutionEvent, SignalEvent)

_FIRST_PAUSE = 0.2
_MAX_PAUSE = 5.0


@dataclass(frozen=True, slots=True)
class Recovered:
    """What recovery found, for the log and for tests."""

    cash: Decimal
    positions: int
    open_orders: int
    tail_orders: int
    tail_executions: int
    handled_signals: int
    from_ledger: bool


async def recover(portfolio: Component[Any], cash: Decimal) -> tuple[PortfolioState, Recovered] | None:
    """Read the state ``portfolio`` (starting with ``cash``) resumes from, live; ``None`` in a replay or a backtest."""
    context = portfolio.context
    if context is None or not context.live:
        return None
    settings = context.settings
    subjects = settings.subjects
    js = context.jetstream()
    nc = context.nc
    assert nc is not None  # live
    order_stream, exec_stream = subjects.stream("order"), subjects.stream("execution")
    book = Book(cash)
    checkpoints = {order_stream: 0, exec_stream: 0}
    conn: asyncpg.Connection | None = None
    if settings.database_url is not None:
        # Recovery only reads the ledger: as the read-only role, where the configured user may make it.
        url = await ensure_reader(settings.database_url) or settings.database_url
        conn = await connect(url, application_name=f"ingenium-{portfolio.name}")
    try:
        if conn is not None:
            await _wait_for_tables(conn, portfolio)
        exec_floor = await _ack_floor(js, exec_stream, f"{portfolio.name}-execution")
        signal_floor, signal_delivered = await _unacked(js, subjects.stream("signal"), f"{portfolio.name}-signal")
        transaction = conn.transaction(isolation="repeatable_read", readonly=True) if conn else None
        if transaction is not None and conn is not None:
            await transaction.start()
            checkpoints.update(await _snapshot(conn, book, [order_stream, exec_stream], exec_floor))
        orders = [o async for _, o in _events(nc, order_stream, subjects.order, checkpoints[order_stream],
                                              OrderEvent)]
        executions = [e async for _, e in _events(nc, exec_stream, subjects.execution, checkpoints[exec_stream],
                                                  ExecutionEvent)]
        delivered = [(seq, s) async for seq, s in _events(nc, subjects.stream("signal"), subjects.signal,
                                                          signal_floor, SignalEvent, end=signal_delivered)]
        signals = [s.id for _, s in delivered]
        answered = {o.signal_id for o in orders if o.signal_id}
        if conn is not None:
            orders = await _unprojected(conn, book, orders, executions)
            answered |= await queries.answered_signals(conn, signals)
        if transaction is not None:
            await transaction.commit()
    finally:
        if conn is not None:
            await conn.close()
    for order in orders:
        if order.id not in book.open_orders:
            book.add_order(order, order.limit_price or book.mark(order.symbol) or Decimal(0))
    for execution in executions:
        book.apply(execution)
    # Signals up to the last one that produced an order were handled before the restart: the book already holds
    # their effect, and deciding them again against it would trade twice. The later ones the consumer had
    # delivered are decided first, in stream order: their redeliveries come only after the ack wait, behind newer
    # signals, and deciding a signal after a later one would trade on stale information.
    last = max((i for i, signal_id in enumerate(signals) if signal_id in answered), default=-1)
    result = Recovered(book.cash, sum(1 for p in book.positions.values() if p.quantity), len(book.open_orders),
                       len(orders), len(executions), last + 1, conn is not None)
    portfolio.log.info("%s: recovered %s", portfolio.name, result)
    first = tuple(s for _, s in delivered[last + 1:])
    return PortfolioState(book, frozenset(signals[: last + 1]), first), result


async def _wait_for_tables(conn: asyncpg.Connection, portfolio: Component[Any]) -> None:
    """Return once the ledger's tables exist, logging once if they do not yet."""
    pause = _FIRST_PAUSE
    logged = False
    while not await queries.has_tables(conn):
        if not logged:
            portfolio.log.warning(
                "%s: the database has no ledger tables yet; waiting for `ingenium ledger migrate` (or `ingenium "
                "ledger serve`, `ingenium up`) to create them", portfolio.name,
            )
            logged = True
        await asyncio.sleep(pause)
        pause = min(pause * 2, _MAX_PAUSE)
    if logged:
        portfolio.log.info("%s: the ledger's tables exist; recovering", portfolio.name)


async def _unprojected(
    conn: asyncpg.Connection, book: Book, orders: list[OrderEvent], executions: list[ExecutionEvent]
) -> list[OrderEvent]:
    """Drop stream orders the ledger has (duplicates); mark stream fills the ledger counted as applied."""
    skip = await queries.known_orders(conn, [o.id for o in orders])
    for exec_id in await queries.known_fills(conn, [e.fill_id for e in executions if e.is_fill]):
        book.remember_fill(exec_id)
    return [o for o in orders if o.id not in skip]


async def _unacked(js: JetStreamContext, stream: str, durable: str) -> tuple[int, int]:
    """The consumer's ack floor and the last stream sequence it delivered: it redelivers what lies between."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return 0, 0
    floor = info.ack_floor.stream_seq if info.ack_floor is not None and info.ack_floor.stream_seq else 0
    delivered = info.delivered.stream_seq if info.delivered is not None and info.delivered.stream_seq else 0
    return floor, max(floor, delivered)


async def _ack_floor(js: JetStreamContext, stream: str, durable: str) -> int:
    """Last message the portfolio's own consumer acknowledged; it redelivers everything after."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return 0
    return info.ack_floor.stream_seq if info.ack_floor is not None and info.ack_floor.stream_seq else 0


async def _snapshot(conn: asyncpg.Connection, book: Book, streams: list[str], ack_floor: int) -> dict[str, int]:
    """Load the ledger's cash, positions and open orders into ``book``; returns the ledger's checkpoints."""
    found = await queries.checkpoints(conn)
    checkpoints = {stream: found[stream] for stream in streams if stream in found}
    cash = await queries.cash(conn)
    if cash is not None:
        book.cash = cash.balance
    for row in await queries.positions(conn):
        book.positions[row.symbol] = Position(row.quantity, row.cost_basis, row.realized_pnl, row.commissions)
    for order in await queries.orders(conn, open_only=True):
        reference = order.limit_price or book.mark(order.symbol) or Decimal(0)
        book.track(OpenOrder(
            order.order_id, order.symbol, Side(order.side), order.quantity, order.filled_quantity, reference,
            order.created_at,
        ))
    for exec_id in await queries.fill_ids_after(conn, ack_floor):
        book.remember_fill(exec_id)
    return checkpoints


async def _events(
    nc: Client, stream: str, subject: str, checkpoint: int, model: type[E], *, end: int | None = None
) -> AsyncIterator[tuple[int, E]]:
    """The events after ``checkpoint`` (up to ``end``), with their stream sequences."""
    if end is not None and end <= checkpoint:
        return
    async for msg in read_stream(nc, stream, subject, start_sequence=checkpoint + 1, end_sequence=end):
        try:
            yield msg.sequence, model.from_json(msg.data)
        except ValidationError:
            continue  # the ledger records unparseable messages as such; they never moved the book
