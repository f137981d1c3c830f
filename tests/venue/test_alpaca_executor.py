"""AlpacaExecutor against the fake Alpaca on a real socket, in this process: placing, fills, rejects, duplicates."""

from __future__ import annotations

from decimal import Decimal

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
