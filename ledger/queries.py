"""Reading the ledger from Python: typed rows (the SQLModel classes of ``ledger.tables``, money as ``Decimal``).

Every function opens its own connection from a plain ``postgresql://`` URL, so a component (the portfolio
recovering its state, the demo printing a summary) needs nothing but the URL::

    from ledger import queries
    positions = await queries.positions(settings.database_url)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from sqlmodel import SQLModel

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ledger.batch import LedgerStreams
from ledger.batch_sql import ACCOUNT
from ledger.database import connect, no_tables
from ledger.tables import (
    LedgerAnomaly,
    LedgerCancel,
    LedgerCash,
    LedgerCheckpoint,
    LedgerFill,
    LedgerOrder,
    LedgerPosition,
    OrderStatus,
)

Row = TypeVar("Row", bound=SQLModel)


async def _select(model: type[Row], database_url: str, query: str, *params: Any) -> list[Row]:
    """Run ``query`` on ``database_url`` and build one ``model`` per row."""
    conn = await connect(database_url, application_name="ingenium-ledger-query")
    try:
        rows = await conn.fetch(query, *params)
    except asyncpg.UndefinedTableError as exc:
        raise no_tables(database_url) from exc
    finally:
        await conn.close()
    return [model.model_validate(dict(row)) for row in rows]


async def positions(database_url: str, *, include_flat: bool = True) -> list[LedgerPosition]:
    """Return the net position per symbol, by symbol; ``include_flat=False`` leaves out closed positions."""
    where = "" if include_flat else "WHERE quantity <> 0"
    return await _select(LedgerPosition, database_url, f"SELECT * FROM ledger_positions {where} ORDER BY symbol")


async def orders(
    database_url: str,
    *,
    status: OrderStatus | str | None = None,
    symbol: str | None = None,
    open_only: bool = False,
) -> list[LedgerOrder]:
    """Return orders, oldest first, optionally of one ``status`` or ``symbol`` (in any case), or only open ones."""
    if status is not None:
        status = OrderStatus(status)
    return await _select(
        LedgerOrder,
        database_url,
        "SELECT * FROM ledger_orders WHERE ($1::text IS NULL OR status = $1) "
        "AND ($2::text IS NULL OR lower(symbol) = lower($2)) "
        "AND (NOT $3 OR status IN ('new', 'partially_filled')) ORDER BY created_at, order_id",
        status.value if status else None, symbol, open_only,
    )


async def fills(
    database_url: str,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    order_id: str | None = None,
) -> list[LedgerFill]:
    """Return fills in execution-stream order, optionally of one ``symbol`` (in any case) or order.

    ``since`` is inclusive, ``until`` exclusive (both timezone-aware).
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware (UTC), got {value.isoformat()}")
    return await _select(
        LedgerFill,
        database_url,
        "SELECT * FROM ledger_fills WHERE ($1::text IS NULL OR lower(symbol) = lower($1)) "
        "AND ($2::timestamptz IS NULL OR executed_at >= $2) AND ($3::timestamptz IS NULL OR executed_at < $3) "
        "AND ($4::text IS NULL OR order_id = $4) ORDER BY stream_sequence",
        symbol, since, until, order_id,
    )


async def cash(database_url: str) -> LedgerCash | None:
    """Return the cash account, or ``None`` before the projector first ran."""
    rows = await _select(LedgerCash, database_url, "SELECT * FROM ledger_cash WHERE account = $1", ACCOUNT)
    return rows[0] if rows else None


async def anomalies(database_url: str, *, kind: str | None = None) -> list[LedgerAnomaly]:
    """Return anomalies in the order of the events that caused them, optionally of one kind."""
    return await _select(
        LedgerAnomaly,
        database_url,
        "SELECT * FROM ledger_anomalies WHERE ($1::text IS NULL OR kind = $1) ORDER BY stream, stream_sequence, kind",
        kind,
    )


async def cancels(database_url: str, *, order_id: str | None = None) -> list[LedgerCancel]:
    """Return cancel requests and their answers, in the order they were requested, optionally of one order."""
    return await _select(
        LedgerCancel,
        database_url,
        "SELECT * FROM ledger_cancels WHERE ($1::text IS NULL OR order_id = $1) "
        "ORDER BY request_sequence NULLS LAST, cancel_id",
        order_id,
    )


async def checkpoints(database_url: str) -> dict[str, int]:
    """Return the last projected sequence per stream."""
    rows = await _select(LedgerCheckpoint, database_url, "SELECT * FROM ledger_checkpoints ORDER BY stream")
    return {row.stream: row.last_sequence for row in rows}


async def server_version(database_url: str) -> str:
    """Return the PostgreSQL server's version (``PostgreSQL 16.2``)."""
    conn = await connect(database_url, application_name="ingenium-ledger-query")
    try:
        return f"PostgreSQL {await conn.fetchval('SHOW server_version')}"
    finally:
        await conn.close()


async def lag(settings: Settings) -> dict[str, int]:
    """Return how many sequences each stream is ahead of the ledger (0 everywhere: all is projected)."""
    if not settings.database_url:
        raise ValueError("settings.database_url is not set")
    done = await checkpoints(settings.database_url)
    nc = await connect_nats(settings, name="ingenium-ledger-lag")
    try:
        js = nc.jetstream()
        behind = {}
        for _, name in LedgerStreams.from_settings(settings).kinds:
            last = (await js.stream_info(name)).state.last_seq
            behind[name] = max(0, last - done.get(name, 0))
        return behind
    finally:
        await nc.drain()
