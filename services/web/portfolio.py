"""The Portfolio page's figures: ledger positions marked at the latest bar of each symbol on the data stream."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nats.aio.client import Client
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.config import Settings
from ingenium.events import DataEvent
from ledger import queries
from ledger.database import connect


@dataclass
class PositionView:
    """One symbol's position, marked."""

    symbol: str
    quantity: Decimal
    average_price: Decimal
    cost_basis: Decimal
    mark: Decimal | None
    market_value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    commissions: Decimal


@dataclass
class PortfolioView:
    """Cash, positions, exposure and PnL, in total and per strategy."""

    cash: Decimal
    starting_cash: Decimal
    positions: list[PositionView]
    exposure: Decimal
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    commissions: Decimal
    strategies: list[dict[str, Any]]


async def latest_close(nc: Client, settings: Settings, symbol: str) -> Decimal | None:
    """The close of the newest bar of ``symbol`` on the data stream, or ``None``."""
    try:
        msg = await nc.jetstream().get_last_msg(settings.subjects.stream("data"), settings.subjects.data(symbol))
    except NotFoundError:
        return None
    try:
        return DataEvent.model_validate_json(msg.data or b"").bar.close
    except ValidationError:
        return None


async def portfolio(database_url: str, nc: Client, settings: Settings) -> PortfolioView:
    """Mark the ledger's positions and sum them up."""
    positions = []
    for p in await queries.positions(database_url):
        mark = await latest_close(nc, settings, p.symbol) if p.quantity else None
        value = p.quantity * mark if mark is not None else None
        unrealized = None
        if value is not None:
            unrealized = value - p.cost_basis if p.quantity > 0 else value + p.cost_basis
        positions.append(PositionView(p.symbol, p.quantity, p.average_price, p.cost_basis, mark, value, unrealized,
                                      p.realized_pnl, p.commissions))
    cash = await queries.cash(database_url)
    balance = cash.balance if cash else Decimal(0)
    # A position without a mark is valued at cost, so equity never counts it as lost.
    holdings = sum((p.market_value if p.market_value is not None else (p.cost_basis if p.quantity > 0
                    else -p.cost_basis)) for p in positions if p.quantity)
    return PortfolioView(
        cash=balance, starting_cash=cash.starting_balance if cash else Decimal(0), positions=positions,
        exposure=sum((abs(p.market_value) for p in positions if p.market_value is not None), Decimal(0)),
        equity=balance + Decimal(holdings), realized_pnl=sum((p.realized_pnl for p in positions), Decimal(0)),
        unrealized_pnl=sum((p.unrealized_pnl for p in positions if p.unrealized_pnl is not None), Decimal(0)),
        commissions=cash.commissions if cash else Decimal(0),
        strategies=await by_strategy(database_url),
    )


async def by_strategy(database_url: str) -> list[dict[str, Any]]:
    """Realized PnL, commissions, fills and open orders per strategy."""
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        rows = await conn.fetch(
            "WITH o AS (SELECT order_id, coalesce(strategy_id, '') AS strategy, status FROM ledger_orders) "
            "SELECT o.strategy, count(f.exec_id) AS fills, coalesce(sum(f.realized_pnl), 0) AS realized_pnl, "
            "coalesce(sum(f.commission), 0) AS commissions, coalesce(sum(f.quantity * f.price), 0) AS traded_notional,"
            " count(DISTINCT o.order_id) FILTER (WHERE o.status IN ('new', 'partially_filled')) AS open_orders "
            "FROM o LEFT JOIN ledger_fills f USING (order_id) GROUP BY 1 ORDER BY 1"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]
