"""The transaction history for viewers: orders and fills filtered, sorted and paged in SQL, and streamed as CSV.

Nothing here loads the whole history: each page is one ``LIMIT``/``OFFSET`` query with its ``count(*)``, and an
export walks a server-side cursor over the same filtered query.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ledger.database import connect, no_tables

#: Columns a viewer may sort by, per table (a whitelist: they are interpolated into SQL).
ORDER_SORTS = ("created_at", "updated_at", "symbol", "side", "status", "quantity", "filled_quantity",
               "average_price", "strategy_id")
FILL_SORTS = ("executed_at", "symbol", "side", "quantity", "price", "commission", "realized_pnl", "strategy_id")
ORDER_COLUMNS = ("order_id", "created_at", "updated_at", "strategy_id", "symbol", "side", "order_type",
                 "time_in_force", "quantity", "limit_price", "filled_quantity", "average_price", "commission",
                 "status", "reason")
FILL_COLUMNS = ("exec_id", "executed_at", "order_id", "strategy_id", "symbol", "side", "quantity", "price",
                "commission", "realized_pnl")


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What a viewer asked for; every field optional. ``since`` is inclusive, ``until`` exclusive."""

    symbol: str | None = None
    strategy: str | None = None
    side: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the size of the whole filtered result."""

    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _where(kind: str, f: HistoryFilter) -> tuple[str, list[Any]]:
    time_column = "o.created_at" if kind == "orders" else "f.executed_at"
    side_column = "o.side" if kind == "orders" else "f.side"
    symbol_column = "o.symbol" if kind == "orders" else "f.symbol"
    clauses = [
        f"($1::text IS NULL OR {symbol_column} = lower($1))",
        "($2::text IS NULL OR o.strategy_id = $2)",
        f"($3::text IS NULL OR {side_column} = $3)",
        "($4::text IS NULL OR o.status = $4)",
        f"($5::timestamptz IS NULL OR {time_column} >= $5)",
        f"($6::timestamptz IS NULL OR {time_column} < $6)",
        "($7::text IS NULL OR o.order_id = $7)",
    ]
    params = [f.symbol, f.strategy, f.side, f.status, f.since, f.until, f.order_id]
    return " AND ".join(clauses), params


def _select(kind: str, f: HistoryFilter, sort: str, descending: bool) -> tuple[str, list[Any]]:
    sorts = ORDER_SORTS if kind == "orders" else FILL_SORTS
    if sort not in sorts:
        raise ValueError(f"cannot sort {kind} by {sort!r}; use one of {', '.join(sorts)}")
    where, params = _where(kind, f)
    direction = "DESC" if descending else "ASC"
    if kind == "orders":
        columns = ", ".join(f"o.{c}" for c in ORDER_COLUMNS)
        tiebreak = f"o.stream_sequence {direction}"
        sql = (f"SELECT {columns} FROM ledger_orders o WHERE {where} "
               f"ORDER BY o.{sort} {direction} NULLS LAST, {tiebreak}")
    else:
        columns = ", ".join("o.strategy_id" if c == "strategy_id" else f"f.{c}" for c in FILL_COLUMNS)
        table = "o" if sort == "strategy_id" else "f"
        sql = (f"SELECT {columns} FROM ledger_fills f LEFT JOIN ledger_orders o USING (order_id) WHERE {where} "
               f"ORDER BY {table}.{sort} {direction} NULLS LAST, f.stream_sequence {direction}")
    return sql, params


async def page(database_url: str, kind: str, f: HistoryFilter, *, sort: str, descending: bool = True,
               limit: int = 50, offset: int = 0) -> Page:
    """One page of ``orders`` or ``fills`` matching ``f``, sorted by ``sort``."""
    sql, params = _select(kind, f, sort, descending)
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        rows = await conn.fetch(f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}", *params)
        total = await conn.fetchval(f"SELECT count(*) FROM ({sql}) AS q", *params)
    except asyncpg.UndefinedTableError as exc:
        raise no_tables(database_url) from exc
    finally:
        await conn.close()
    return Page([dict(r) for r in rows], int(total), limit, offset)


async def export_csv(database_url: str, kind: str, f: HistoryFilter, *, sort: str,
                     descending: bool = True) -> AsyncIterator[str]:
    """The whole filtered query as CSV text, a chunk at a time, from a server-side cursor."""
    sql, params = _select(kind, f, sort, descending)
    columns = ORDER_COLUMNS if kind == "orders" else FILL_COLUMNS
    conn = await connect(database_url, application_name="ingenium-web-export")
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        async with conn.transaction(readonly=True):
            batch = 0
            async for record in conn.cursor(sql, *params, prefetch=500):
                writer.writerow(["" if record[c] is None else _cell(record[c]) for c in columns])
                batch += 1
                if batch == 500:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
                    batch = 0
        yield buffer.getvalue()
    finally:
        await conn.close()


def _cell(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def order(database_url: str, order_id: str) -> dict[str, Any] | None:
    """One order's row, or ``None``."""
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        row = await conn.fetchrow("SELECT * FROM ledger_orders WHERE order_id = $1", order_id)
    finally:
        await conn.close()
    return dict(row) if row is not None else None


async def audit_trail(database_url: str, order_id: str) -> list[dict[str, Any]]:
    """Every consumed message about one order, verbatim, in the order JetStream stored them."""
    conn = await connect(database_url, application_name="ingenium-web")
    try:
        rows = await conn.fetch(
            "SELECT stream, stream_sequence, subject, event_type, event_id, duplicate, error, payload::text AS payload,"
            " received_at FROM ledger_events WHERE order_id = $1 ORDER BY received_at, stream, stream_sequence",
            order_id,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]
