"""The SQL a projection batch runs (asyncpg): its reads and writes, each inside the caller's transaction.

Bulk loads of what a batch touches, the audit row of each message, and the writes outside a batch's one statement
(``ledger.batch_write``): the opening cash, checkpoints, and fills refolded once their order arrived.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring as _quote

import asyncpg

from ledger.arithmetic import canonical
from ledger.messages import Message, Parsed, storable_text
from ledger.rows import ZERO, CashState, FillRow, OrderState, PositionState

#: The one cash account the ledger keeps.
ACCOUNT = "default"

EVENT_COLUMNS = (
    "stream", "stream_sequence", "subject", "msg_id", "event_type", "event_id", "order_id", "duplicate", "error",
    "payload", "raw", "headers", "received_at",
)


class CheckpointMoved(RuntimeError):
    """Another writer advanced a checkpoint under this one: the batch is rolled back and the projector restarts."""


# ----------------------------------------------------------------------------- reads
async def seen_event_ids(conn: asyncpg.Connection, stream: str, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` the audit trail already holds as non-duplicate events of ``stream``."""
    if not ids:
        return set()
    rows = await conn.fetch(
        "SELECT event_id FROM ledger_events WHERE stream = $1 AND event_id = ANY($2::text[]) "
        "AND NOT duplicate AND event_id IS NOT NULL",
        stream, list(ids),
    )
    return {row["event_id"] for row in rows}


async def load_orders(conn: asyncpg.Connection, order_ids: Collection[str]) -> dict[str, OrderState]:
    """Load the known orders among ``order_ids``."""
    if not order_ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {', '.join(OrderState.COLUMNS)} FROM ledger_orders WHERE order_id = ANY($1::text[])",
        list(order_ids),
    )
    return {row["order_id"]: OrderState.from_record(row) for row in rows}


async def load_positions(conn: asyncpg.Connection, symbols: Collection[str]) -> dict[str, PositionState]:
    """Load the positions of ``symbols`` that exist."""
    if not symbols:
        return {}
    rows = await conn.fetch(
        f"SELECT {', '.join(PositionState.COLUMNS)} FROM ledger_positions WHERE symbol = ANY($1::text[])",
        list(symbols),
    )
    return {row["symbol"]: PositionState.from_record(row) for row in rows}


async def load_cash(conn: asyncpg.Connection) -> CashState:
    """Load the cash account; ``open_cash`` must have created it."""
    row = await conn.fetchrow(f"SELECT {', '.join(CashState.COLUMNS)} FROM ledger_cash WHERE account = $1", ACCOUNT)
    if row is None:
        raise RuntimeError("the ledger_cash row is missing: the projector creates it on start (open_cash)")
    return CashState.from_record(row)


async def starting_balance(conn: asyncpg.Connection) -> Decimal | None:
    """Return the opening balance the cash account was created with, if it exists."""
    value: Decimal | None = await conn.fetchval(
        "SELECT starting_balance FROM ledger_cash WHERE account = $1", ACCOUNT
    )
    return value


async def fills_of_symbols(conn: asyncpg.Connection, symbols: Collection[str]) -> list[FillRow]:
    """Every fill of ``symbols``, in execution-stream order."""
    rows = await conn.fetch(
        f"SELECT {', '.join(FillRow.COLUMNS)} FROM ledger_fills WHERE symbol = ANY($1::text[]) "
        "ORDER BY stream_sequence",
        list(symbols),
    )
    return [FillRow.from_record(row) for row in rows]


async def take_waiting_executions(
    conn: asyncpg.Connection, execution_stream: str, order_ids: Collection[str]
) -> list[Message]:
    """Remove the ``unknown_order`` anomalies of ``order_ids`` and return their executions, in stream order."""
    if not order_ids:
        return []
    rows = await conn.fetch(
        "WITH taken AS (DELETE FROM ledger_anomalies WHERE kind = 'unknown_order' AND order_id = ANY($2::text[]) "
        "RETURNING stream, stream_sequence) "
        "SELECT e.stream, e.stream_sequence, e.subject, e.payload::text AS payload, e.raw, e.headers::text AS headers,"
        " e.received_at FROM ledger_events e JOIN taken t USING (stream, stream_sequence) "
        "WHERE e.stream = $1 ORDER BY e.stream_sequence",
        execution_stream, list(order_ids),
    )
    return [audit_message(row) for row in rows]


async def any_waiting(conn: asyncpg.Connection, order_ids: Collection[str]) -> bool:
    """Whether an execution recorded before its order waits for one of ``order_ids``."""
    if not order_ids:
        return False
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ledger_anomalies WHERE kind = 'unknown_order' AND order_id = ANY($1::text[]))",
        list(order_ids),
    )
    return found


def audit_message(row: asyncpg.Record) -> Message:
    """Rebuild a message from its ``ledger_events`` row (``payload`` and ``headers`` selected as text)."""
    payload: str | None = row["payload"]
    data: bytes = payload.encode() if payload is not None else row["raw"]
    headers = json.loads(row["headers"]) if row["headers"] is not None else None
    return Message(row["stream"], row["stream_sequence"], row["subject"], data, headers, row["received_at"])


# ----------------------------------------------------------------------------- writes
def _json_object(headers: Mapping[str, str]) -> str:
    """JSON of a string-to-string mapping (headers), faster than ``json.dumps`` for these few short pairs."""
    return "{" + ",".join(f"{_quote(storable_text(k))}:{_quote(storable_text(v))}" for k, v in headers.items()) + "}"


def audit_row(parsed: Parsed, kind: str, duplicate: bool) -> tuple[object, ...]:
    """Build the ``ledger_events`` row of one consumed message."""
    message = parsed.message
    headers = _json_object(message.headers) if message.headers else None
    msg_id = message.msg_id and storable_text(message.msg_id)
    return (
        message.stream, message.sequence, message.subject, msg_id, kind, parsed.event_id, parsed.order_id,
        duplicate, parsed.error, parsed.payload, parsed.raw, headers, message.received_at,
    )


async def refill(conn: asyncpg.Connection, fills: Sequence[FillRow]) -> None:
    """Rewrite the side and realized PnL of fills refolded after their order arrived."""
    if fills:
        await conn.execute(
            "UPDATE ledger_fills f SET side = u.side, realized_pnl = u.realized_pnl "
            "FROM unnest($1::text[], $2::text[], $3::numeric[]) AS u(exec_id, side, realized_pnl) "
            "WHERE f.exec_id = u.exec_id",
            [f.exec_id for f in fills], [f.side for f in fills],
            [canonical(f.realized_pnl) if f.realized_pnl is not None else None for f in fills],
        )


async def open_cash(conn: asyncpg.Connection, starting: Decimal) -> None:
    """Create the cash account with its opening balance, unless it exists."""
    await conn.execute(
        "INSERT INTO ledger_cash (account, starting_balance, balance, commissions, fills, updated_at) "
        "VALUES ($1, $2, $2, $3, 0, NULL) ON CONFLICT (account) DO NOTHING",
        ACCOUNT, canonical(starting), ZERO,
    )


# ----------------------------------------------------------------------------- checkpoints
async def load_checkpoints(conn: asyncpg.Connection, streams: Iterable[str]) -> dict[str, int]:
    """Load the last projected sequence per stream, creating missing checkpoints at 0."""
    names = list(streams)
    await conn.executemany(
        "INSERT INTO ledger_checkpoints (stream, last_sequence) VALUES ($1, 0) ON CONFLICT (stream) DO NOTHING",
        [(name,) for name in names],
    )
    rows = await conn.fetch(
        "SELECT stream, last_sequence FROM ledger_checkpoints WHERE stream = ANY($1::text[])", names
    )
    return {row["stream"]: row["last_sequence"] for row in rows}
