"""The whole loop on real NATS and PostgreSQL: ingestor → SmaCross → RiskPortfolio → PaperExecutor → ledger."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import asyncpg
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate
from ingenium.runtime import Runner
from ingenium.testing import bar, stream_events
from services.data import SAMPLE_FILE, SAMPLE_START, SAMPLE_SYMBOLS
from services.executor import PaperExecutor
from services.ingestors import HistoricalIngestor
from services.portfolio import RiskPortfolio
from services.strategies import SmaCross
from tests.services.live import running


async def test_ledger_agrees_with_the_portfolio_and_partial_fills_add_up(
    db_settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    strategy = SmaCross(fast=5, slow=20)
    portfolio = RiskPortfolio(sizing="notional", notional=8000, cash=100_000)
    executor = PaperExecutor(max_fill_quantity=40, volume_share="0.02", slippage_bps=3, commission_per_share="0.01")
    async with running(db_settings, nc) as loop:
        await loop.start_ledger(starting_cash=100_000)
        for component in (strategy, portfolio, executor):
            await loop.start(component)
        loader = HistoricalIngestor(path=SAMPLE_FILE)
        await Runner(loader, db_settings, nc=nc).run()
        assert loader.result is not None and loader.result.published == 390 * len(SAMPLE_SYMBOLS)
        # Busy closing minutes let orders that were still working (volume cap) finish.
        end = SAMPLE_START + timedelta(minutes=390)
        closing = [bar(s, "100", start=end, minutes=m, volume=10**6) for m in range(3) for s in SAMPLE_SYMBOLS]
        await bus.publish_many(closing)
        await loop.settle([strategy, portfolio, executor])

        conn = await asyncpg.connect(db_settings.database_url)
        try:
            orders = await conn.fetch("SELECT * FROM ledger_orders")
            fills = await conn.fetch("SELECT * FROM ledger_fills")
            positions = {r["symbol"]: r for r in await conn.fetch("SELECT * FROM ledger_positions")}
            cash = await conn.fetchrow("SELECT * FROM ledger_cash")
            anomalies = await conn.fetchval("SELECT count(*) FROM ledger_anomalies")
        finally:
            await conn.close()

    assert len(orders) > 20
    assert anomalies == 0
    unfinished = [(o["status"], o["reason"]) for o in orders if o["status"] != "filled"]
    assert not unfinished
    per_order: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        per_order[f["order_id"]] += f["quantity"]
    for o in orders:
        assert per_order[o["order_id"]] == o["filled_quantity"] == o["quantity"]

    executions = [e for e in await stream_events(nc, db_settings, "execution") if isinstance(e, ExecutionEvent)]
    partials = [e for e in executions if e.update is ExecutionUpdate.PARTIAL_FILL]
    assert len(partials) > 10
    cumulative: dict[str, Decimal] = defaultdict(Decimal)
    for e in executions:
        if e.is_fill:
            cumulative[e.order_id] += e.quantity
            assert e.cum_quantity == cumulative[e.order_id]
            quantity = next(o["quantity"] for o in orders if o["order_id"] == e.order_id)
            assert e.leaves_quantity == quantity - e.cum_quantity

    assert {s: p.quantity for s, p in portfolio.book.positions.items() if p.quantity} == {
        s: p["quantity"] for s, p in positions.items() if p["quantity"]
    }
    for symbol, held in portfolio.book.positions.items():
        # Both books call the same money core on the same fills: equal to the last digit.
        assert held.realized_pnl == positions[symbol]["realized_pnl"]
        assert held.commissions == positions[symbol]["commissions"]
        assert (held.cost_basis, held.average_price) == (positions[symbol]["cost_basis"],
                                                         positions[symbol]["average_price"])
    assert portfolio.book.cash == cash["balance"]
    assert not portfolio.book.open_orders
