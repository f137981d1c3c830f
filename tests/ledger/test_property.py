"""A property test: random orders and fills, with sideless (Go) fills, duplicates published after the dedup
window, executions before their orders, and projector restarts (graceful or cancelled mid-batch), end with the
positions, cash, PnL and fills of the reference model of the money core's tests (``tests/core/reference_book.py``),
exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import asyncpg
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.events import Event, ExecutionEvent, OrderEvent, Side
from ingenium.streams import ensure_streams
from ingenium.testing import eventually, fill, order
from ledger import queries
from ledger.config import LedgerConfig
from ledger.projector import Projector
from ledger.tables import TABLE_NAMES
from tests.core.reference_book import ReferenceBook
from tests.ledger.support import project, publish_raw

CONFIG = LedgerConfig(batch_size=3, max_batch=6, lock_poll_seconds=0.05, retry_seconds=0.1,
                      consumer_check_seconds=0.5)
START = Decimal(100000)


@dataclass
class Step:
    """One publish: an event, as a copy under a new message id or not; ``then`` is what the projector does next."""

    event: Event
    copy: bool = False
    then: str = "nothing"  # "nothing", "project" (until caught up, then stop) or "crash" (cancelled mid-run)


@st.composite
def runs(draw: st.DrawFn) -> list[Step]:
    orders = [
        order(draw(st.sampled_from(["aa", "bb"])), draw(st.sampled_from([Side.BUY, Side.SELL])),
              draw(st.integers(1, 20)), event_id=f"o{i}")
        for i in range(draw(st.integers(1, 5)))
    ]
    fills: list[ExecutionEvent] = []
    for i, o in enumerate(orders):
        for j in range(draw(st.integers(0, 3))):
            f = fill(o, draw(st.integers(1, 12)), Decimal(draw(st.integers(100, 20000))) / 100,
                     commission=Decimal(draw(st.integers(0, 150))) / 100, exec_id=f"x{i}.{j}")
            fills.append(f.model_copy(update={"side": None}) if draw(st.booleans()) else f)
    steps = [Step(f) for f in draw(st.permutations(fills))]
    for o in orders:  # anywhere, so some orders reach the ledger after their fills
        steps.insert(draw(st.integers(0, len(steps))), Step(o))
    events: list[Event] = [*orders, *fills]
    for copied in draw(st.lists(st.sampled_from(events), max_size=4)):
        steps.insert(draw(st.integers(0, len(steps))), Step(copied, copy=True))
    for step in steps:
        step.then = draw(st.sampled_from(["nothing", "nothing", "nothing", "project", "crash"]))
    return steps


@dataclass
class Reference:
    """The reference book, and what each order filled."""

    book: ReferenceBook
    filled: dict[str, Fraction]


def reference(steps: list[Step]) -> Reference:
    orders = {s.event.id: s.event for s in steps if isinstance(s.event, OrderEvent)}
    done, seen = Reference(ReferenceBook(Fraction(START)), {}), set()
    for step in steps:
        f = step.event
        if isinstance(f, ExecutionEvent) and f.fill_id not in seen:
            seen.add(f.fill_id)
            done.book.apply(f.symbol, f.side or orders[f.order_id].side, f.quantity, f.price, f.commission or 0)
            done.filled[f.order_id] = done.filled.get(f.order_id, Fraction(0)) + Fraction(f.quantity)
    return done


@pytest_asyncio.fixture
async def ledger_url(ledger_settings: Settings) -> AsyncIterator[str]:
    assert ledger_settings.database_url
    yield ledger_settings.database_url


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=runs())
async def test_ledger_matches_a_reference_model(steps: list[Step], nats_url: str, ledger_url: str) -> None:
    run_settings = Settings(nats_url=nats_url, namespace=f"p{uuid.uuid4().hex[:10]}", database_url=ledger_url)
    conn = await asyncpg.connect(ledger_url)
    await conn.execute(f"TRUNCATE {', '.join(TABLE_NAMES)}")
    await conn.close()
    nc = await connect_nats(run_settings, name="property")
    js = nc.jetstream()
    await ensure_streams(js, run_settings)
    bus = JetStreamBus(nc, run_settings.subjects)
    try:
        for step in steps:
            if step.copy:
                await publish_raw(nc, run_settings, step.event)
            else:
                await bus.publish(step.event)
            if step.then == "project":
                await project(nc, run_settings, CONFIG)
            elif step.then == "crash":
                await crash_midway(run_settings)
        await project(nc, run_settings, CONFIG)
        await check(ledger_url, steps, reference(steps))
    finally:
        for key in ("data", "signal", "order", "execution", "deadletter"):
            await js.delete_stream(run_settings.subjects.stream(key))
        await nc.drain()


async def crash_midway(run_settings: Settings) -> None:
    """Start a projector and cancel it as soon as it has the lock: often mid-batch, never cleanly."""
    projector, stop = Projector(run_settings, CONFIG), asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    try:
        await eventually(lambda: projector.active.is_set() or task.done())
    finally:
        task.cancel()
        # nats-py swallows a cancellation that lands in its flush; then the projector stops on its event.
        if not (await asyncio.wait([task], timeout=5))[0]:
            stop.set()
        await asyncio.gather(task, return_exceptions=True)


async def check(url: str, steps: list[Step], expected: Reference) -> None:
    book = expected.book
    positions = {p.symbol: p for p in await queries.positions(url)}
    assert set(positions) == set(book.positions)
    for symbol, position in positions.items():
        ref = book.positions[symbol]
        assert (Fraction(position.quantity), Fraction(position.commissions)) == (ref.quantity, ref.commissions)
        assert (Fraction(position.realized_pnl), Fraction(position.cost_basis)) == (ref.realized, ref.cost)
        assert Fraction(position.average_price) == ref.average_price
    cash = await queries.cash(url)
    assert cash is not None and Fraction(cash.balance) == book.cash
    orders = await queries.orders(url)
    assert {o.order_id for o in orders} == {s.event.id for s in steps if isinstance(s.event, OrderEvent)}
    assert all(Fraction(o.filled_quantity) == expected.filled.get(o.order_id, 0) for o in orders)
    assert await queries.anomalies(url, kind="unknown_order") == []
    fills = await queries.fills(url)
    assert len(fills) == len({s.event.fill_id for s in steps if isinstance(s.event, ExecutionEvent)})
    assert all(f.side is not None and f.realized_pnl is not None for f in fills)
    in_stream_order = sorted(fills, key=lambda f: f.stream_sequence)
    assert [Fraction(f.realized_pnl or 0) for f in in_stream_order] == book.fill_pnl
    for symbol, position in positions.items():
        realized = sum(Fraction(f.realized_pnl or 0) for f in fills if f.symbol == symbol)
        assert realized == Fraction(position.realized_pnl)
