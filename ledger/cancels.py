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

from ingenium.events import CancelRequest, ExecutionEvent, ExecutionUpdate
from ledger.tables import CancelStatus

Row = tuple[object, ...]

#: What an answer to a cancel request says, as the request's status.
_ANSWERS = {ExecutionUpdate.CANCELED: CancelStatus.CANCELED, ExecutionUpdate.CANCEL_REJECTED: CancelStatus.REJECTED}

#: The columns a request writes, and those an answer writes (``ledger.batch_write`` upserts each side's own).
REQUEST_COLUMNS = ("cancel_id", "order_id", "requested_by", "reason", "requested_at", "request_sequence", "status")
OUTCOME_COLUMNS = ("cancel_id", "order_id", "status", "outcome_exec_id", "outcome_reason", "outcome_at",
                   "outcome_sequence")


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
