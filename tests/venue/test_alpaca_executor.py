"""AlpacaExecutor against the fake Alpaca on a real socket, in this process: placing, fills, rejects, duplicates."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import asyncpg
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate
from ingenium.testing import eventually, order, stream_events
from ledger import queries
from services.executor.alpaca import AlpacaExecutor
from tests.services.live import running
from tests.venue.server import FakeAlpaca


async def executions(nc: Client, settings: Settings) -> list[ExecutionEvent]:
    return [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]


async def reports(nc: Client, settings: Settings, n: int) -> list[ExecutionEvent] | None:
    stored = await executions(nc, settings)
    return stored if len(stored) >= n else None


async def test_order_placed_with_its_id_and_fills_reported_once_each(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca
) -> None:
    settings = db_settings
    buy = order("acme", quantity="10")
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await bus.publish(buy)
        await eventually(lambda: buy.id in alpaca.state.orders)
        await eventually(lambda: alpaca.connections >= 1)
        alpaca.state.fill(buy.id, 4, "101.5")
        alpaca.state.fill(buy.id, 6, "102")
        stored = await eventually(lambda: reports(nc, settings, 3))
        await executor.reconcile()  # the same fills again, from REST: nothing new may be stored
        await loop.settle([executor])
    assert isinstance(stored, list)
    stored = await executions(nc, settings)
    assert [(e.update, e.quantity, e.price, e.cum_quantity, e.leaves_quantity) for e in stored] == [
        (ExecutionUpdate.ACCEPTED, 0, 0, 0, 10),
        (ExecutionUpdate.PARTIAL_FILL, 4, Decimal("101.5"), 4, 6),
        (ExecutionUpdate.FILLED, 6, 102, 10, 0),
    ]
    assert stored[2].avg_price == Decimal("101.8") and all(e.order_id == buy.id for e in stored)
    venue_order = alpaca.state.orders[buy.id]
    assert venue_order.client_order_id == buy.id and alpaca.state.placements == 1
    assert settings.database_url
    positions = await queries.positions(settings.database_url)
    assert [(p.symbol, p.quantity) for p in positions] == [("acme", 10)]


async def test_stream_dropped_mid_fill_missed_fills_arrive_through_reconciliation_once(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca
) -> None:
    settings = db_settings
    buy = order("acme", quantity="10")
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await eventually(lambda: alpaca.connections >= 1)
        await bus.publish(buy)
        await eventually(lambda: buy.id in alpaca.state.orders)
        alpaca.state.fill(buy.id, 3, "50")
        await eventually(lambda: reports(nc, settings, 2))
        await alpaca.stream_down()  # the connection drops; reconnects are refused for now
        alpaca.state.fill(buy.id, 4, "51")  # nobody hears these on the stream
        alpaca.state.fill(buy.id, 3, "52")
        before = executor.reconciled
        alpaca.stream_up()
        await eventually(lambda: alpaca.connections >= 2 and executor.reconciled > before, timeout=30)
        await eventually(lambda: reports(nc, settings, 4))
        await loop.settle([executor])
    stored = await executions(nc, settings)
    fills = [e for e in stored if e.is_fill]
    assert [(e.quantity, e.price, e.cum_quantity) for e in fills] == [(3, 50, 3), (4, 51, 7), (3, 52, 10)]
    assert len({e.exec_id for e in fills}) == 3 and fills[-1].update is ExecutionUpdate.FILLED
    assert settings.database_url
    assert len(await queries.fills(settings.database_url)) == 3


async def test_rejects_rate_limits_expiry_and_position_anomalies(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca
) -> None:
    settings = db_settings
    assert settings.database_url
    alpaca.state.refuse["XYZ"] = "insufficient buying power"
    refused, day = order("xyz", quantity="5"), order("acme", quantity="10")
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await bus.publish(refused)
        alpaca.throttle(3)  # the day order's placement meets three 429s first
        await bus.publish(day)
        await eventually(lambda: day.id in alpaca.state.orders, timeout=30)
        alpaca.state.fill(day.id, 4, "20")
        alpaca.state.expire_day_orders()
        # A trade nobody in Ingenium asked for: the venue's position now differs from the ledger's.
        alpaca.state.place({"symbol": "GLOBEX", "qty": "5", "side": "buy", "client_order_id": "manual-1"})
        alpaca.state.fill("manual-1", 5, "30")
        await eventually(lambda: reports(nc, settings, 4))
        await loop.settle([executor])
        await executor.reconcile()
        await eventually(lambda: _anomalies(settings.database_url), timeout=30)
        await loop.settle([executor])
    stored = {(e.order_id, e.update): e for e in await executions(nc, settings)}
    assert stored[(refused.id, ExecutionUpdate.REJECTED)].reason == "insufficient buying power (HTTP 403)"
    assert alpaca.rate_limited == 3 and alpaca.state.placements == 3  # xyz once, acme once, the manual one
    expired = stored[(day.id, ExecutionUpdate.EXPIRED)]
    assert expired.cum_quantity == 4 and expired.leaves_quantity == 0
    orders = {o.order_id: o for o in await queries.orders(settings.database_url)}
    assert (orders[day.id].status, orders[day.id].filled_quantity) == ("expired", 4)
    assert orders[refused.id].status == "rejected"
    rows = await _anomalies(settings.database_url)
    assert [(r["symbol"], r["venue_quantity"], r["ledger_quantity"]) for r in rows] == [("GLOBEX", 5, 0)]
    # Neither side was overwritten: the ledger still holds only what Ingenium traded.
    assert {p.symbol: p.quantity for p in await queries.positions(settings.database_url)} == {"acme": 4}


async def _anomalies(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch("SELECT * FROM ledger_position_anomalies ORDER BY id"))
    finally:
        await conn.close()


def test_every_parameter_is_documented_in_docs_venues() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "venues.md").read_text()
    fields = AlpacaExecutor.params_model.model_fields
    assert [name for name in fields if f"`{name}`" not in text] == []
    assert all(field.description for field in fields.values())
