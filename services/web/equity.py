"""The Portfolio page's equity curves: marked to market, in total and per strategy, with drawdown.

The ledger's fills are replayed in stream order through the accounting core (``ingenium.accounting``): each book
(the whole account, and each strategy's share of it) keeps its cash and positions. After each fill a point is
taken with every open position marked at the last price its symbol traded at, so unrealized PnL is in the curve;
the last point, "now", marks them as the rest of the page does (``portfolio.marks``: the latest bar on the data
stream). A strategy's curve is
its PnL (its cash flows plus its positions' value); the total is the account's equity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from nats.aio.client import Client

from ingenium.accounting import cash_after
from ingenium.config import Settings
from ingenium.events import Side
from ledger import queries
from ledger.database import connect
from services.web import portfolio

ZERO = Decimal(0)


@dataclass
class Book:
    """Cash and signed positions of one account or strategy."""

    cash: Decimal = ZERO
    positions: dict[str, Decimal] = field(default_factory=dict)

    def fill(self, symbol: str, side: Side, quantity: Decimal, price: Decimal, commission: Decimal) -> None:
        """Apply one fill: cash pays or receives the notional and the commission, the position moves."""
        self.cash = cash_after(self.cash, side, quantity, price, commission)
        signed = quantity if side is Side.BUY else -quantity
        self.positions[symbol] = self.positions.get(symbol, ZERO) + signed

    def value(self, marks: dict[str, Decimal]) -> Decimal:
        """Cash plus every open position at its mark."""
        return self.cash + sum((q * marks[s] for s, q in self.positions.items() if q), ZERO)


@dataclass
class Curve:
    """Equity (the total) or PnL (a strategy) over time, and its drawdown from the running peak."""

    name: str
    times: list[datetime] = field(default_factory=list)
    values: list[Decimal] = field(default_factory=list)

    def add(self, when: datetime, value: Decimal) -> None:
        """Append one point."""
        self.times.append(when)
        self.values.append(value)

    def drawdown(self, *, relative: bool) -> list[Decimal]:
        """Distance below the running peak: a fraction of it (``relative``) or in money."""
        peak: Decimal | None = None
        out = []
        for value in self.values:
            peak = value if peak is None or value > peak else peak
            if relative:
                out.append(value / peak - 1 if peak > 0 else ZERO)
            else:
                out.append(value - peak)
        return out

    def thinned(self, limit: int) -> Curve:
        """At most ``limit`` points, evenly spaced, the last one always kept."""
        if len(self.values) <= limit:
            return self
        step = len(self.values) / (limit - 1)
        keep = sorted({int(i * step) for i in range(limit - 1)} | {len(self.values) - 1})
        return Curve(self.name, [self.times[i] for i in keep], [self.values[i] for i in keep])


async def curves(database_url: str, nc: Client, settings: Settings, *,
                 limit: int = 2000) -> tuple[Curve, list[Curve]]:
    """The account's equity curve and each strategy's PnL curve, marked to market (see the module)."""
    account = await queries.cash(database_url)
    total_book = Book(account.starting_balance if account else ZERO)
    books: dict[str, Book] = {}
    total = Curve("total")
    per: dict[str, Curve] = {}
    marks: dict[str, Decimal] = {}
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        async with conn.transaction(readonly=True):
            cursor = conn.cursor(
                "SELECT f.executed_at, f.symbol, f.side, f.quantity, f.price, f.commission, "
                "coalesce(o.strategy_id, '') AS strategy FROM ledger_fills f LEFT JOIN ledger_orders o "
                "USING (order_id) WHERE f.side IS NOT NULL ORDER BY f.stream_sequence")
            async for row in cursor:
                side = Side(row["side"])
                marks[row["symbol"]] = row["price"]
                args = (row["symbol"], side, row["quantity"], row["price"], row["commission"])
                total_book.fill(*args)
                book = books.setdefault(row["strategy"], Book())
                book.fill(*args)
                total.add(row["executed_at"], total_book.value(marks))
                per.setdefault(row["strategy"], Curve(row["strategy"])).add(row["executed_at"], book.value(marks))
    finally:
        await conn.close()
    if total.values:
        held = {s for s, q in total_book.positions.items() if q} | {
            s for b in books.values() for s, q in b.positions.items() if q}
        marks.update(await portfolio.marks(database_url, nc, settings, held))
        now = datetime.now(UTC)
        total.add(now, total_book.value(marks))
        for name, book in books.items():
            per[name].add(now, book.value(marks))
    return total.thinned(limit), [per[name].thinned(limit) for name in sorted(per)]
