"""In-memory rows the projection works on: loaded from PostgreSQL per batch, changed by plain functions, written back.

Each class mirrors one table of ``ledger.tables``; ``COLUMNS`` and ``row()`` give the column order used to write
it. A position row is an ``ingenium.accounting.Position`` (the money core moves it). Average prices are derived
(from notional or cost basis, at the core's ``SCALE``) and every computed decimal is put in canonical form only in
``row()``, once per row written rather than once per fill.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from ingenium.accounting import Position
from ingenium.events import Side
from ledger.arithmetic import ZERO, average, canonical
from ledger.tables import AnomalyKind, OrderStatus

__all__ = ["ZERO", "Anomaly", "CashState", "FillRow", "OrderState", "PositionState"]


@dataclass(slots=True)
class OrderState:
    """One ``ledger_orders`` row."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "order_id", "strategy_id", "signal_id", "symbol", "side", "order_type", "time_in_force", "quantity",
        "limit_price", "status", "filled_quantity", "filled_notional", "average_price", "commission", "reason",
        "created_at", "updated_at", "stream_sequence",
    )

    order_id: str
    strategy_id: str | None
    signal_id: str | None
    symbol: str
    side: Side
    order_type: str
    time_in_force: str
    quantity: Decimal
    limit_price: Decimal | None
    status: OrderStatus
    filled_quantity: Decimal
    filled_notional: Decimal
    commission: Decimal
    reason: str | None
    created_at: datetime
    updated_at: datetime
    stream_sequence: int

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted average price of the fills so far; ``None`` before the first."""
        return average(self.filled_notional, self.filled_quantity) if self.filled_quantity else None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> OrderState:
        """Build from a database row."""
        values = {name: record[name] for name in cls.COLUMNS if name != "average_price"}
        values["side"] = Side(values["side"])
        values["status"] = OrderStatus(values["status"])
        return cls(**values)

    def row(self) -> tuple[object, ...]:
        """Values in ``COLUMNS`` order, as the database takes them."""
        return (
            # Enum members go as they are: they are str, which the driver writes as text.
            self.order_id, self.strategy_id, self.signal_id, self.symbol, self.side, self.order_type,
            self.time_in_force, self.quantity, self.limit_price, self.status, canonical(self.filled_quantity),
            canonical(self.filled_notional), self.average_price, canonical(self.commission), self.reason,
            self.created_at, self.updated_at, self.stream_sequence,
        )


@dataclass(slots=True, kw_only=True)
class PositionState(Position):
    """One ``ledger_positions`` row: the core's position (signed quantity, cost basis, PnL, commissions) of a symbol."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "symbol", "quantity", "average_price", "cost_basis", "realized_pnl", "commissions", "fills", "updated_at",
    )

    symbol: str
    fills: int
    updated_at: datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PositionState:
        """Build from a database row."""
        return cls(**{name: record[name] for name in cls.COLUMNS if name != "average_price"})

    def row(self) -> tuple[object, ...]:
        """Values in ``COLUMNS`` order."""
        return (
            self.symbol, canonical(self.quantity), canonical(self.average_price), canonical(self.cost_basis),
            canonical(self.realized_pnl), canonical(self.commissions), self.fills, self.updated_at,
        )


@dataclass(slots=True)
class CashState:
    """The ``ledger_cash`` row of one account."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "account", "starting_balance", "balance", "commissions", "fills", "updated_at",
    )

    account: str
    starting_balance: Decimal
    balance: Decimal
    commissions: Decimal
    fills: int
    updated_at: datetime | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CashState:
        """Build from a database row."""
        return cls(**{name: record[name] for name in cls.COLUMNS})

    def row(self) -> tuple[object, ...]:
        """Values in ``COLUMNS`` order."""
        return (
            self.account, canonical(self.starting_balance), canonical(self.balance), canonical(self.commissions),
            self.fills, self.updated_at,
        )


@dataclass(slots=True)
class FillRow:
    """One ``ledger_fills`` row.

    ``side`` is ``None`` while neither the execution nor its order has said it; ``realized_pnl`` is what the fill
    realized on its symbol's position (``None`` until it moved the position).
    """

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "exec_id", "order_id", "symbol", "side", "quantity", "price", "commission", "realized_pnl", "executed_at",
        "stream_sequence",
    )

    exec_id: str
    order_id: str
    symbol: str
    side: Side | None
    quantity: Decimal
    price: Decimal
    commission: Decimal
    executed_at: datetime
    stream_sequence: int
    realized_pnl: Decimal | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> FillRow:
        """Build from a database row."""
        values = {name: record[name] for name in cls.COLUMNS}
        values["side"] = Side(values["side"]) if values["side"] is not None else None
        return cls(**values)

    def row(self) -> tuple[object, ...]:
        """Values in ``COLUMNS`` order."""
        realized = canonical(self.realized_pnl) if self.realized_pnl is not None else None
        return (
            self.exec_id, self.order_id, self.symbol, self.side, self.quantity, self.price, self.commission,
            realized, self.executed_at, self.stream_sequence,
        )


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One ``ledger_anomalies`` row."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "stream", "stream_sequence", "kind", "order_id", "exec_id", "symbol", "detail", "occurred_at",
    )

    stream: str
    stream_sequence: int
    kind: AnomalyKind
    order_id: str | None
    exec_id: str | None
    symbol: str | None
    detail: str
    occurred_at: datetime

    def row(self) -> tuple[object, ...]:
        """Values in ``COLUMNS`` order."""
        return (
            self.stream, self.stream_sequence, self.kind, self.order_id, self.exec_id, self.symbol,
            self.detail, self.occurred_at,
        )
