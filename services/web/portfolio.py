"""The Portfolio page's figures: ledger positions marked at the latest bar of each symbol on the data stream."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.lastbar import last_bar
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
    # The last bar, not the last message: trades and quotes share the subject.
    event = await last_bar(nc.jetstream(), settings.subjects.stream("data"), settings.subjects.data(symbol))
    return event.bar.close if event is not None else None


async def last_trades(database_url: str) -> dict[str, Decimal]:
    """The price of each symbol's latest fill in the ledger."""
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        rows = await conn.fetch("SELECT DISTINCT ON (symbol) symbol, price FROM ledger_fills "
                                "ORDER BY symbol, stream_sequence DESC")
    finally:
        await conn.close()
    return {r["symbol"]: r["price"] for r in rows}


async def marks(database_url: str, nc: Client, settings: Settings, symbols: set[str]) -> dict[str, Decimal]:
    """What each of ``symbols`` is worth now: its latest bar's close, or without a recorded bar its last trade.

    The one marking rule of the Portfolio page: positions, per-strategy PnL and the equity curve's last point.
    """
    traded = await last_trades(database_url)
    out = {}
    for symbol in symbols:
        mark = await latest_close(nc, settings, symbol)
        mark = mark if mark is not None else traded.get(symbol)
        if mark is not None:
            out[symbol] = mark
    return out


async def portfolio(database_url: str, nc: Client, settings: Settings) -> PortfolioView:
    """Mark the ledger's positions and sum them up."""
    positions = []
    ledger_positions = await queries.positions(database_url)
    held = await strategy_holdings(database_url)
    prices = await marks(database_url, nc, settings, {p.symbol for p in ledger_positions if p.quantity} | {
        s for quantities, _ in held.values() for s in quantities})
    for p in ledger_positions:
        mark = prices.get(p.symbol) if p.quantity else None
        value = p.quantity * mark if mark is not None else None
        unrealized = None
        if value is not None:
            unrealized = value - p.cost_basis if p.quantity > 0 else value + p.cost_basis
        positions.append(PositionView(p.symbol, p.quantity, p.average_price, p.cost_basis, mark, value, unrealized,
                                      p.realized_pnl, p.commissions))
    cash = await queries.cash(database_url)
    balance = cash.balance if cash else Decimal(0)
    # A position without a mark (no bar, no fill: not possible once it holds anything) is valued at cost.
    holdings = sum((p.market_value if p.market_value is not None else (p.cost_basis if p.quantity > 0
                    else -p.cost_basis)) for p in positions if p.quantity)
    return PortfolioView(
        cash=balance, starting_cash=cash.starting_balance if cash else Decimal(0), positions=positions,
        exposure=sum((abs(p.market_value) for p in positions if p.market_value is not None), Decimal(0)),
        equity=balance + Decimal(holdings), realized_pnl=sum((p.realized_pnl for p in positions), Decimal(0)),
        unrealized_pnl=sum((p.unrealized_pnl for p in positions if p.unrealized_pnl is not None), Decimal(0)),
        commissions=cash.commissions if cash else Decimal(0),
        strategies=await _marked_strategies(database_url, held, prices),
    )


async def _marked_strategies(database_url: str, held: dict[str, tuple[dict[str, Decimal], Decimal]],
                             prices: dict[str, Decimal]) -> list[dict[str, Any]]:
    """``by_strategy`` with each strategy's unrealized and net PnL.

    Its open quantities are marked at the latest bar's close; net PnL = its cash flows + holdings at mark, and
    unrealized PnL is what of that is not realized yet.
    """
    rows = await by_strategy(database_url)
    for row in rows:
        holdings = held.get(row["strategy"], ({}, Decimal(0)))
        value = Decimal(0)
        complete = True
        for symbol, quantity in holdings[0].items():
            if symbol not in prices:
                complete = False
                continue
            value += quantity * prices[symbol]
        pnl = holdings[1] + value
        row["unrealized_pnl"] = pnl - (row["realized_pnl"] - row["commissions"]) if complete else None
        row["pnl"] = pnl if complete else None
    return rows


async def strategy_holdings(database_url: str) -> dict[str, tuple[dict[str, Decimal], Decimal]]:
    """Per strategy: its open quantity per symbol (signed) and its net cash flow (sales − purchases − fees)."""
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        rows = await conn.fetch(
            "SELECT coalesce(o.strategy_id, '') AS strategy, f.symbol, "
            "sum(CASE WHEN f.side = 'buy' THEN f.quantity ELSE -f.quantity END) AS quantity, "
            "sum(CASE WHEN f.side = 'buy' THEN -f.quantity * f.price ELSE f.quantity * f.price END - f.commission)"
            " AS cash_flow FROM ledger_fills f JOIN ledger_orders o USING (order_id) WHERE f.side IS NOT NULL "
            "GROUP BY 1, 2"
        )
    finally:
        await conn.close()
    out: dict[str, tuple[dict[str, Decimal], Decimal]] = {}
    for r in rows:
        quantities, flow = out.get(r["strategy"], ({}, Decimal(0)))
        if r["quantity"]:
            quantities[r["symbol"]] = r["quantity"]
        out[r["strategy"]] = (quantities, flow + r["cash_flow"])
    return out


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
