"""The ledger's tables: the public SQL interface, as SQLModel classes (also the typed rows of ``ledger.queries``).

The tables are created only by the alembic migrations in ``migrations/``; these classes describe them for code
and for ``alembic revision --autogenerate``. Quantities and money are ``NUMERIC``; times are ``timestamptz``.
Every value is derived from the streams (event and JetStream timestamps, never the wall clock), so a rebuild
reproduces the tables byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class OrderStatus(StrEnum):
    """Where an order stands, as the ledger sees it."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """Whether the order may still fill."""
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class CancelStatus(StrEnum):
    """Where a cancel request stands: asked, or answered by the executor."""

    REQUESTED = "requested"
    CANCELED = "canceled"
    REJECTED = "rejected"


class AnomalyKind(StrEnum):
    """What a ledger must not silently accept."""

    OVERFILL = "overfill"
    SIDE_MISMATCH = "side_mismatch"
    SYMBOL_MISMATCH = "symbol_mismatch"
    UNKNOWN_ORDER = "unknown_order"


def _numeric(*, nullable: bool = False, default: str | None = None) -> Any:
    server_default = text(default) if default is not None else None
    return Field(sa_column=Column(Numeric, nullable=nullable, server_default=server_default))


def _time(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable))


def _text(*, nullable: bool = False, primary_key: bool = False) -> Any:
    return Field(sa_column=Column(Text, nullable=nullable, primary_key=primary_key))


class LedgerOrder(SQLModel, table=True):
    """One order (``ledger_orders``), with what its executions did to it."""

    __tablename__ = "ledger_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')",
            name="ledger_orders_status",
        ),
        Index("ledger_orders_symbol", "symbol"),
        Index("ledger_orders_open", "status", postgresql_where=text("status IN ('new', 'partially_filled')")),
    )

    order_id: str = _text(primary_key=True)
    strategy_id: str | None = _text(nullable=True)
    signal_id: str | None = _text(nullable=True)
    symbol: str = _text()
    side: str = _text()
    order_type: str = _text()
    time_in_force: str = _text()
    quantity: Decimal = _numeric()
    limit_price: Decimal | None = _numeric(nullable=True)
    status: str = _text()
    filled_quantity: Decimal = _numeric(default="0")
    filled_notional: Decimal = _numeric(default="0")
    average_price: Decimal | None = _numeric(nullable=True)
    commission: Decimal = _numeric(default="0")
    reason: str | None = _text(nullable=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()
    stream_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerFill(SQLModel, table=True):
    """One execution that moved quantity (``ledger_fills``)."""

    __tablename__ = "ledger_fills"
    __table_args__ = (
        Index("ledger_fills_order", "order_id"),
        Index("ledger_fills_symbol", "symbol", "stream_sequence"),
        Index("ledger_fills_executed", "executed_at"),
    )

    exec_id: str = _text(primary_key=True)
    order_id: str = _text()
    symbol: str = _text()
    side: str | None = _text(nullable=True)
    quantity: Decimal = _numeric()
    price: Decimal = _numeric()
    commission: Decimal = _numeric(default="0")
    realized_pnl: Decimal | None = _numeric(nullable=True)
    executed_at: datetime = _time()
    stream_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerPosition(SQLModel, table=True):
    """Net position in one symbol (``ledger_positions``)."""

    __tablename__ = "ledger_positions"

    symbol: str = _text(primary_key=True)
    quantity: Decimal = _numeric()
    average_price: Decimal = _numeric()
    cost_basis: Decimal = _numeric()
    realized_pnl: Decimal = _numeric()
    commissions: Decimal = _numeric()
    fills: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _time()


class LedgerCash(SQLModel, table=True):
    """The cash account (``ledger_cash``): opening balance, less what fills bought and commissions cost."""

    __tablename__ = "ledger_cash"

    account: str = _text(primary_key=True)
    starting_balance: Decimal = _numeric()
    balance: Decimal = _numeric()
    commissions: Decimal = _numeric()
    fills: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime | None = _time(nullable=True)


class LedgerEvent(SQLModel, table=True):
    """One consumed message, verbatim (``ledger_events``, the audit trail)."""

    __tablename__ = "ledger_events"
    __table_args__ = (
        PrimaryKeyConstraint("stream", "stream_sequence", name="ledger_events_pkey"),
        Index(
            "ledger_events_event_id",
            "stream",
            "event_id",
            unique=True,
            postgresql_where=text("NOT duplicate AND event_id IS NOT NULL"),
        ),
    )

    stream: str = Field(sa_column=Column(Text, nullable=False))
    stream_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject: str = _text()
    msg_id: str | None = _text(nullable=True)
    event_type: str = _text()
    event_id: str | None = _text(nullable=True)
    order_id: str | None = _text(nullable=True)
    duplicate: bool = Field(sa_column=Column(Boolean, nullable=False))
    error: str | None = _text(nullable=True)
    payload: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    headers: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    received_at: datetime = _time()


class LedgerCheckpoint(SQLModel, table=True):
    """The last stream sequence projected, per stream (``ledger_checkpoints``): the position of record."""

    __tablename__ = "ledger_checkpoints"

    stream: str = _text(primary_key=True)
    last_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))


class LedgerAnomaly(SQLModel, table=True):
    """Something the ledger refused to accept silently (``ledger_anomalies``), with the event that caused it."""

    __tablename__ = "ledger_anomalies"
    __table_args__ = (
        PrimaryKeyConstraint("stream", "stream_sequence", "kind", name="ledger_anomalies_pkey"),
        Index("ledger_anomalies_unknown_order", "order_id", postgresql_where=text("kind = 'unknown_order'")),
    )

    stream: str = Field(sa_column=Column(Text, nullable=False))
    stream_sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    order_id: str | None = _text(nullable=True)
    exec_id: str | None = _text(nullable=True)
    symbol: str | None = _text(nullable=True)
    detail: str = _text()
    occurred_at: datetime = _time()


class LedgerCancel(SQLModel, table=True):
    """One cancel request (``ledger_cancels``) and the executor's answer to it.

    The request comes from the order stream, the answer (a ``canceled`` or ``cancel_rejected`` execution carrying
    its ``CancelId``) from the execution stream; either may be projected first, and each writes only its own
    columns, so the row ends the same whichever came first (and after a rebuild).
    """

    __tablename__ = "ledger_cancels"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'canceled', 'rejected')", name="ledger_cancels_status"),
        Index("ledger_cancels_order", "order_id"),
    )

    cancel_id: str = _text(primary_key=True)
    order_id: str = _text()
    requested_by: str | None = _text(nullable=True)
    reason: str | None = _text(nullable=True)
    requested_at: datetime | None = _time(nullable=True)
    request_sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    status: str = _text()
    outcome_exec_id: str | None = _text(nullable=True)
    outcome_reason: str | None = _text(nullable=True)
    outcome_at: datetime | None = _time(nullable=True)
    outcome_sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class LedgerPositionAnomaly(SQLModel, table=True):
    """A venue's position that differs from the ledger's (``ledger_position_anomalies``), as a venue executor saw it.

    Written by venue executors after reconciling, one row each time the difference changes; neither side is
    corrected. Not derived from the streams, so a rebuild leaves it alone.
    """

    __tablename__ = "ledger_position_anomalies"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="ledger_position_anomalies_pkey"),
        Index("ledger_position_anomalies_symbol", "venue", "symbol", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), nullable=False))
    venue: str = _text()
    symbol: str = _text()
    venue_quantity: Decimal = _numeric()
    ledger_quantity: Decimal = _numeric()
    detail: str = _text()
    detected_at: datetime = _time()


#: Tables venue executors write (not projections: rebuild and dumps leave them alone).
VENUE_TABLE_NAMES: tuple[str, ...] = ("ledger_position_anomalies",)

#: Every ledger table, in the order a dump or a rebuild visits them.
TABLES: tuple[type[SQLModel], ...] = (
    LedgerOrder,
    LedgerFill,
    LedgerPosition,
    LedgerCash,
    LedgerEvent,
    LedgerCheckpoint,
    LedgerAnomaly,
    LedgerCancel,
)

#: Their names.
TABLE_NAMES: tuple[str, ...] = tuple(str(model.__tablename__) for model in TABLES)
