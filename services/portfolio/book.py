"""The portfolio's book: positions, cash and open orders, kept from the orders it sends and the executions it sees.

Positions and cash are moved by the money core, ``ingenium.accounting``, the functions the ledger's projection
calls too: the book and the ledger agree exactly on quantities, cost basis, average prices, PnL and cash.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ingenium.accounting import Position, apply_fill, cash_after
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderEvent, Side

__all__ = ["Book", "OpenOrder", "Position"]

_ZERO = Decimal(0)
_FINAL = (ExecutionUpdate.FILLED, ExecutionUpdate.CANCELED, ExecutionUpdate.REJECTED, ExecutionUpdate.EXPIRED)
#: Fill ids and finished orders remembered to recognise a redelivered or replayed execution.
_REMEMBERED = 100_000


@dataclass(slots=True)
class OpenOrder:
    """An order sent and not yet final, with the price it was sized at (to reserve cash for it)."""

    order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    filled: Decimal
    reference_price: Decimal
    created_at: datetime | None = None
    cancel_requested: bool = False

    @property
    def leaves(self) -> Decimal:
        """Quantity not filled yet."""
        return max(self.quantity - self.filled, _ZERO)

    @property
    def signed_leaves(self) -> Decimal:
        """``leaves`` with the sign a fill would give the position."""
        return self.leaves * self.side.sign


class Book:
    """Cash, positions, open orders and marks (last known prices) of one account.

    Open orders go in through ``track`` (``add_order``) and change only through ``apply``: the book keeps each
    symbol's pending quantity and the cash reserved for buys as running sums beside them, so a signal costs the
    same with one open order or thousands (fills lag orders when bars come fast).
    """

    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.positions: dict[str, Position] = {}
        self.open_orders: dict[str, OpenOrder] = {}
        self.marks: dict[str, Decimal] = {}
        self._fills: OrderedDict[str, None] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()
        #: Per symbol with open orders: (how many, signed leaves summed); the sum restarts from zero when none is
        #: left, so it is always what summing the open orders gives.
        self._pending: dict[str, tuple[int, Decimal]] = {}
        self._reserved = _ZERO
        #: No open order was created before this (``None``: none has a creation time); lowered by ``track``,
        #: made exact again by ``older_than``'s walk, so the common check (nothing that old) walks nothing.
        self._oldest: datetime | None = None

    # ------------------------------------------------------------------ reading
    def position(self, symbol: str) -> Decimal:
        """Filled quantity held in ``symbol`` (signed)."""
        held = self.positions.get(symbol)
        return held.quantity if held is not None else _ZERO

    def pending(self, symbol: str) -> Decimal:
        """Signed quantity of ``symbol`` still to fill on open orders."""
        entry = self._pending.get(symbol)
        return entry[1] if entry is not None else _ZERO

    def effective(self, symbol: str) -> Decimal:
        """Position once every open order filled: what sizing and limits compare against."""
        return self.position(symbol) + self.pending(symbol)

    def mark(self, symbol: str) -> Decimal | None:
        """Last known price of ``symbol`` (from signals and fills), or the position's average price."""
        if symbol in self.marks:
            return self.marks[symbol]
        held = self.positions.get(symbol)
        return held.average_price if held is not None and held.quantity else None

    def equity(self) -> Decimal:
        """Cash plus the marked value of every position."""
        value = self.cash
        for symbol, held in self.positions.items():
            if held.quantity:
                value += held.quantity * (self.mark(symbol) or held.average_price)
        return value

    def gross_exposure(
        self, *, symbol: str | None = None, replace: Decimal | None = None, price: Decimal | None = None
    ) -> Decimal:
        """Sum of |effective position| × mark over symbols; with ``symbol``, as if it held ``replace`` at ``price``."""
        symbols = set(self.positions) | set(self._pending)
        if symbol is not None:
            symbols.add(symbol)
        total = _ZERO
        for name in symbols:
            if name == symbol:
                quantity = replace if replace is not None else self.effective(name)
                total += abs(quantity) * (price if price is not None else self.mark(name) or _ZERO)
            else:
                total += abs(self.effective(name)) * (self.mark(name) or _ZERO)
        return total

    def reserved_cash(self) -> Decimal:
        """Cash the open buy orders will need, at the prices they were sized at."""
        return self._reserved if self.open_orders else _ZERO

    def realized_pnl(self) -> Decimal:
        """Realized PnL over every symbol, before commissions."""
        return sum((p.realized_pnl for p in self.positions.values()), _ZERO)

    # ------------------------------------------------------------------ changing
    def add_order(self, order: OrderEvent, reference_price: Decimal, filled: Decimal = _ZERO) -> None:
        """Track an order just sent (or recovered) until an execution says it is final."""
        if order.id in self._finished:
            return
        self.track(OpenOrder(order.id, order.symbol, order.side, order.quantity, filled, reference_price,
                             order.timestamp))

    def track(self, open_order: OpenOrder) -> None:
        """Hold ``open_order`` as open (a recovered one replaces what the book held under its id)."""
        if open_order.order_id in self.open_orders:
            self._untrack(self.open_orders[open_order.order_id])
        self.open_orders[open_order.order_id] = open_order
        created = open_order.created_at
        if created is not None and (self._oldest is None or created < self._oldest):
            self._oldest = created
        count, total = self._pending.get(open_order.symbol, (0, _ZERO))
        self._pending[open_order.symbol] = (count + 1, total + open_order.signed_leaves)
        if open_order.side is Side.BUY:
            self._reserved += open_order.leaves * open_order.reference_price

    def _untrack(self, open_order: OpenOrder) -> None:
        del self.open_orders[open_order.order_id]
        count, total = self._pending[open_order.symbol]
        if count == 1:
            del self._pending[open_order.symbol]
        else:
            self._pending[open_order.symbol] = (count - 1, total - open_order.signed_leaves)
        if not self.open_orders:
            self._reserved = _ZERO
        elif open_order.side is Side.BUY:
            self._reserved -= open_order.leaves * open_order.reference_price

    def _fill(self, open_order: OpenOrder, quantity: Decimal) -> None:
        before_signed, before_leaves = open_order.signed_leaves, open_order.leaves
        open_order.filled += quantity
        count, total = self._pending[open_order.symbol]
        self._pending[open_order.symbol] = (count, total - before_signed + open_order.signed_leaves)
        if open_order.side is Side.BUY:
            self._reserved -= (before_leaves - open_order.leaves) * open_order.reference_price

    def older_than(self, cutoff: datetime) -> list[OpenOrder]:
        """Open orders created before ``cutoff`` that no cancel was asked for yet."""
        if self._oldest is None or cutoff <= self._oldest:
            return []
        self._oldest = min((o.created_at for o in self.open_orders.values() if o.created_at is not None),
                           default=None)
        return [o for o in self.open_orders.values()
                if not o.cancel_requested and o.created_at is not None and o.created_at < cutoff]

    def knows_fill(self, exec_id: str) -> bool:
        """Whether this fill was applied already."""
        return exec_id in self._fills

    def remember_fill(self, exec_id: str) -> None:
        """Mark a fill as applied (recovery does this for fills the ledger already counted)."""
        self._fills[exec_id] = None
        if len(self._fills) > _REMEMBERED:
            self._fills.popitem(last=False)

    def apply(self, execution: ExecutionEvent) -> bool:
        """Apply one execution; returns ``False`` for a fill seen before (a redelivery or replay)."""
        if execution.is_fill:
            if self.knows_fill(execution.fill_id):
                return False
            self.remember_fill(execution.fill_id)
            side = execution.side or self._side_of(execution.order_id)
            if side is None:
                raise ValueError(
                    f"execution {execution.id} has no Side and order {execution.order_id} is unknown; "
                    "the portfolio cannot tell a buy from a sell"
                )
            held = self.positions.get(execution.symbol)
            if held is None:
                held = self.positions[execution.symbol] = Position()
            commission = execution.commission or _ZERO
            apply_fill(held, side, execution.quantity, execution.price, commission)
            self.cash = cash_after(self.cash, side, execution.quantity, execution.price, commission)
            self.marks[execution.symbol] = execution.price
            open_order = self.open_orders.get(execution.order_id)
            if open_order is not None:
                self._fill(open_order, execution.quantity)
        if execution.update in _FINAL or (
            execution.order_id in self.open_orders and self.open_orders[execution.order_id].leaves <= 0
        ):
            self._finish(execution.order_id)
        return True

    def _side_of(self, order_id: str) -> Side | None:
        open_order = self.open_orders.get(order_id)
        return open_order.side if open_order is not None else None

    def _finish(self, order_id: str) -> None:
        if (open_order := self.open_orders.get(order_id)) is not None:
            self._untrack(open_order)
        self._finished[order_id] = None
        if len(self._finished) > _REMEMBERED:
            self._finished.popitem(last=False)
