"""Cancel requests and their answers in ``ledger_cancels``: one row per request, however the two arrive.

A request comes from the order stream, its answer (a ``canceled`` or ``cancel_rejected`` execution carrying
``CancelId``) from the execution stream, and the two streams are projected independently: the answer may be
written first. So each side writes only its own columns with an upsert, and the row ends the same in either
order, as a rebuild (which replays the order stream before the execution stream) requires. A request seen again
(its ``Id``) is a duplicate and changes nothing; of two answers to one request, the first in execution-stream
order counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from ingenium.events import CancelRequest, ExecutionEvent, ExecutionUpdate
from ledger.tables import CancelStatus

Row = tuple[object, ...]

#: What an answer to a cancel request says, as the request's status.
_ANSWERS = {ExecutionUpdate.CANCELED: CancelStatus.CANCELED, ExecutionUpdate.CANCEL_REJECTED: CancelStatus.REJECTED}

_REQUEST_COLUMNS = ("cancel_id", "order_id", "requested_by", "reason", "requested_at", "request_sequence", "status")
_OUTCOME_COLUMNS = ("cancel_id", "order_id", "status", "outcome_exec_id", "outcome_reason", "outcome_at",
                    "outcome_sequence")
_TYPES = {
    "cancel_id": "text", "order_id": "text", "requested_by": "text", "reason": "text", "requested_at": "timestamptz",
    "request_sequence": "bigint", "status": "text", "outcome_exec_id": "text", "outcome_reason": "text",
    "outcome_at": "timestamptz", "outcome_sequence": "bigint",
}


def _upsert(columns: Sequence[str], updates: Sequence[str], where: str = "") -> str:
    arrays = ", ".join(f"${i}::{_TYPES[c]}[]" for i, c in enumerate(columns, start=1))
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
    return (f"INSERT INTO ledger_cancels ({', '.join(columns)}) SELECT * FROM unnest({arrays}) "
            f"ON CONFLICT (cancel_id) DO UPDATE SET {sets}{where}")


# A request never touches the status: an answer written before it has set it already.
_SAVE_REQUESTS = _upsert(_REQUEST_COLUMNS, [c for c in _REQUEST_COLUMNS if c not in ("cancel_id", "status")])
_SAVE_OUTCOMES = _upsert(_OUTCOME_COLUMNS, [c for c in _OUTCOME_COLUMNS if c not in ("cancel_id", "order_id")],
                         " WHERE ledger_cancels.outcome_exec_id IS NULL")


def request_row(event: CancelRequest, sequence: int) -> Row:
    """The columns a cancel request writes."""
    return (event.id, event.order_id, event.requested_by, event.reason, event.timestamp, sequence,
            CancelStatus.REQUESTED.value)


def outcome_row(execution: ExecutionEvent, sequence: int) -> Row | None:
    """The columns an answer writes; ``None`` for an execution that answers no cancel request."""
    status = _ANSWERS.get(execution.update)
    if status is None or not execution.cancel_id:
        return None
    return (execution.cancel_id, execution.order_id, status.value, execution.fill_id, execution.reason,
            execution.execution_timestamp, sequence)


def first_per_request(rows: Sequence[Row]) -> list[Row]:
    """Keep the first row of each cancel id (one statement may not change a row twice)."""
    seen: set[object] = set()
    out = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            out.append(row)
    return out


async def _save(conn: asyncpg.Connection, statement: str, rows: Sequence[Row]) -> None:
    if rows:
        await conn.execute(statement, *(list(column) for column in zip(*first_per_request(rows), strict=True)))


async def save_requests(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """Record cancel requests (``request_row``s), in the caller's transaction."""
    await _save(conn, _SAVE_REQUESTS, rows)


async def save_outcomes(conn: asyncpg.Connection, rows: Sequence[Row]) -> None:
    """Record answers (``outcome_row``s), unless the request has one already."""
    await _save(conn, _SAVE_OUTCOMES, rows)
