"""Orders are never guessed, on real NATS (and PostgreSQL): malformed orders, stale signals and stale orders."""

import json
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.deadletter import COMPONENT, REASON
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderEvent
from ingenium.testing import bar, order, signal, stream_events, stream_messages
from services.executor import PaperExecutor
from services.executor.paper import stale_orders
from services.portfolio import RiskPortfolio
from services.portfolio.portfolio import stale_signals
from tests.services.live import fresh, running


def _with_order_type_key(event: OrderEvent) -> bytes:
    raw = json.loads(event.to_json())
    raw["OrderType"] = raw.pop("Type")
    return json.dumps(raw).encode()


def _market_with_limit_price(event: OrderEvent) -> bytes:
    raw = json.loads(event.to_json())
    raw["LimitPrice"] = "49.5"
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(_with_order_type_key, "unknown key 'OrderType' (did you mean 'Type'?)"),
     (_market_with_limit_price, "LimitPrice is set (49.5) on a market order")],
    ids=["unknown-key", "market-with-limit-price"],
)
async def test_malformed_order_is_dead_lettered_never_traded_and_the_next_order_fills(
    db_settings: Settings, nc: Client, bus: JetStreamBus, payload: Callable[[OrderEvent], bytes],
    reason: str
) -> None:
    settings = db_settings
    bad = fresh(order("acme", quantity="5"))
    good = fresh(order("acme", quantity="3"))
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = PaperExecutor(name="paper")
        await bus.publish(bar("acme", "50"))
        await loop.start(executor)  # takes the stored bar as the latest price on start
        await nc.jetstream().publish(settings.subjects.order, payload(bad), headers={"Nats-Msg-Id": bad.id})
        await bus.publish(good)
        await loop.settle([executor])

    # Both consumers of the order stream dead-lettered it with the reason, naming what was wrong.
    letters = {(m.headers or {})[COMPONENT]: (m.headers or {})[REASON]
               for m in await stream_messages(nc, settings, "deadletter")}
    assert set(letters) == {"paper", "ledger"}
    assert all(r.startswith("invalid OrderEvent") and reason in r for r in letters.values()), letters
    # Nothing traded for it; the order after it filled.
    executions = [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]
    assert [(e.order_id, e.update, e.quantity) for e in executions] == [
        (good.id, ExecutionUpdate.FILLED, 3)
    ]
    # The ledger keeps it in the audit trail with the reason, and never as an order.
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        orders = [r["order_id"] for r in await conn.fetch("SELECT order_id FROM ledger_orders")]
        audit = await conn.fetch("SELECT event_id, error FROM ledger_events WHERE error IS NOT NULL")
    finally:
        await conn.close()
    assert orders == [good.id]
    assert [(r["event_id"], reason in r["error"]) for r in audit] == [(None, True)]


async def test_portfolio_started_after_an_outage_drops_old_signals(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    name = "pf-outage"
    before = stale_signals.total(**{"ingenium.component": name})
    old = fresh(signal("acme", price="100"), age=timedelta(hours=1))
    recent = fresh(signal("globex", price="20"), age=timedelta(seconds=5))
    await bus.publish_many([old, recent])
    async with running(settings, nc) as loop:
        portfolio = RiskPortfolio(name=name, quantity=10)
        await loop.start(portfolio)
        await loop.settle([portfolio])

    orders = [e for e in await stream_events(nc, settings, "order") if isinstance(e, OrderEvent)]
    assert [(o.signal_id, o.symbol, o.quantity) for o in orders] == [(recent.id, "globex", 10)]
    assert stale_signals.total(**{"ingenium.component": name}) == before + 1
    # Dropped means handled: acked once, not redelivered, not dead-lettered.
    info = await nc.jetstream().consumer_info(settings.subjects.stream("signal"), f"{name}-signal")
    assert info.ack_floor is not None and info.ack_floor.stream_seq == 2
    assert info.num_redelivered == 0 and info.num_ack_pending == 0
    assert await stream_messages(nc, settings, "deadletter") == []


async def test_executor_started_after_an_outage_rejects_old_orders_unfilled(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    name = "paper-outage"
    before = stale_orders.total(**{"ingenium.component": name})
    old = fresh(order("acme", quantity="4"), age=timedelta(minutes=30))
    recent = fresh(order("acme", quantity="6"))
    await bus.publish(bar("acme", "50"))
    await bus.publish_many([old, recent])
    async with running(settings, nc) as loop:
        executor = PaperExecutor(name=name)
        await loop.start(executor)
        await loop.settle([executor])

    executions = [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]
    assert [(e.order_id, e.update, e.quantity) for e in executions] == [
        (old.id, ExecutionUpdate.REJECTED, 0), (recent.id, ExecutionUpdate.FILLED, 6)
    ]
    assert "stale order" in (executions[0].reason or "") and "max_order_age 0:01:00" in (executions[0].reason or "")
    assert stale_orders.total(**{"ingenium.component": name}) == before + 1
