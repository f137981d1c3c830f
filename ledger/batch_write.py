"""The one statement that writes a planned batch: every table's rows and the checkpoint, or nothing.

A batch was a transaction of up to ten statements (COPY and array statements, the checkpoint, the commit), each a
round trip to PostgreSQL; on the live loop those waits were most of the ledger's share of a bar's latency (issue
#15). One statement of data-modifying CTEs writes the same rows in one round trip, and is atomic by itself. Every
part writes only if the checkpoint moved from where the plan started (``moved``), so a projector whose checkpoint
another one advanced writes nothing, and learns it from the count the statement returns.

Each part's rows go as one JSON array of arrays, which the server takes apart and casts to the columns' types.
Encoding a typed array per column was the largest share of the projector's CPU (asyncpg checks every element in
Python); msgspec encodes the whole batch in C about ten times faster. Nothing is lost on the way: decimals go as
their exact text (msgspec writes ``str(Decimal)``), times as ISO 8601 with their offset, bytes as base64.

All parts see one snapshot, so none may change a row another part writes. Each writes its own table, but for two
pairs that share one, of which a batch fills only one part: new and changed orders (``ledger_orders``: an order
batch inserts, an execution batch updates) and cancel requests and answers (``ledger_cancels``: requests come with
orders, answers with executions). ``write_batch`` refuses a batch with rows for both parts of a pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import msgspec
from sqlalchemy.dialects import postgresql
from sqlmodel import SQLModel

from ledger import cancels
from ledger.batch_sql import EVENT_COLUMNS, CheckpointMoved
from ledger.rows import Anomaly, CashState, FillRow, OrderState, PositionState

Row = tuple[object, ...]

#: What an execution can change in an order (the other columns are the order's own).
ORDER_CHANGES = ("order_id", "status", "filled_quantity", "filled_notional", "average_price", "commission", "reason",
                 "updated_at")
_CHANGED = tuple(OrderState.COLUMNS.index(column) for column in ORDER_CHANGES)
_GATE = "EXISTS (SELECT 1 FROM moved)"


def _type(table: str, column: str) -> str:
    """The column's SQL type, from the table classes (so no second list of types can drift from them)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialects are untyped
    return str(SQLModel.metadata.tables[table].c[column].type.compile(dialect=dialect))


def _cast(table: str, column: str, index: int) -> str:
    """Element ``index`` of a row (a JSON array) as ``column``'s value: its text cast to the column's type."""
    sql_type = _type(table, column)
    if sql_type == "BYTEA":
        return f"decode(value->>{index}, 'base64')"
    return f"(value->>{index})::{sql_type}"


@dataclass(frozen=True, slots=True)
class _Part:
    """One table's share of the statement: rows of ``columns`` in, as one JSON parameter."""

    table: str
    columns: tuple[str, ...]
    #: ``INSERT`` (with an upsert's ``ON CONFLICT`` clause after it), or ``UPDATE`` of the key's rows.
    conflict: str = ""
    update: bool = False

    def sql(self, parameter: int) -> str:
        """The part's CTE body, reading its rows from JSON parameter number ``parameter``."""
        names = ", ".join(self.columns)
        values = ", ".join(_cast(self.table, column, i) for i, column in enumerate(self.columns))
        rows = f"SELECT {values} FROM jsonb_array_elements(${parameter}::jsonb)"
        if self.update:
            key = self.columns[0]
            sets = ", ".join(f"{c} = u.{c}" for c in self.columns[1:])
            return (f"UPDATE {self.table} t SET {sets} FROM ({rows}) AS u({names}) "
                    f"WHERE t.{key} = u.{key} AND {_GATE}")
        return f"INSERT INTO {self.table} ({names}) {rows} WHERE {_GATE} {self.conflict}"


def _upsert(key: str, columns: Sequence[str], where: str = "") -> str:
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    return f"ON CONFLICT ({key}) DO UPDATE SET {sets}{where}"


_PARTS = {
    "audit": _Part("ledger_events", EVENT_COLUMNS),
    "fills": _Part("ledger_fills", FillRow.COLUMNS),
    "new_orders": _Part("ledger_orders", OrderState.COLUMNS),
    "changed_orders": _Part("ledger_orders", ORDER_CHANGES, update=True),
    "positions": _Part("ledger_positions", PositionState.COLUMNS,
                       _upsert("symbol", PositionState.COLUMNS[1:])),
    "cash": _Part("ledger_cash", CashState.COLUMNS, _upsert("account", CashState.COLUMNS[1:])),
    "anomalies": _Part("ledger_anomalies", Anomaly.COLUMNS),
    # A request never touches the status: an answer written before it has set it already.
    "cancel_requests": _Part("ledger_cancels", cancels.REQUEST_COLUMNS, _upsert(
        "cancel_id", [c for c in cancels.REQUEST_COLUMNS if c not in ("cancel_id", "status")])),
    # The first answer stands: a redelivered or late one changes nothing.
    "cancel_outcomes": _Part("ledger_cancels", cancels.OUTCOME_COLUMNS, _upsert(
        "cancel_id", [c for c in cancels.OUTCOME_COLUMNS if c not in ("cancel_id", "order_id")],
        " WHERE ledger_cancels.outcome_exec_id IS NULL")),
}

#: Parts that write one table: a batch may fill only one of each pair.
_EXCLUSIVE = (("new_orders", "changed_orders"), ("cancel_requests", "cancel_outcomes"))


def _statement() -> str:
    parts = ["moved AS (UPDATE ledger_checkpoints SET last_sequence = $3 WHERE stream = $1 AND last_sequence = $2 "
             "RETURNING 1)"]
    for parameter, (name, part) in enumerate(_PARTS.items(), start=4):
        parts.append(f"{name} AS ({part.sql(parameter)})")
    return f"WITH {', '.join(parts)} SELECT count(*) FROM moved"


WRITE_BATCH = _statement()
_ENCODER = msgspec.json.Encoder()


async def write_batch(
    conn: asyncpg.Connection, stream: str, checkpoint: int, last_sequence: int, rows: dict[str, Sequence[Row]]
) -> None:
    """Write a planned batch's ``rows`` (by part: audit, fills, new_orders …) and move ``stream``'s checkpoint.

    Raises ``CheckpointMoved`` (nothing written) when the checkpoint was not at ``checkpoint``.
    """
    unknown = set(rows) - set(_PARTS)
    if unknown:
        raise ValueError(f"no part of the batch statement writes {sorted(unknown)}")
    for pair in _EXCLUSIVE:
        if all(rows.get(name) for name in pair):
            raise ValueError(f"a batch has rows for {pair[0]} or for {pair[1]}, not both: they write one table, "
                             "which one statement cannot change twice")
    changed = [tuple(row[i] for i in _CHANGED) for row in rows.get("changed_orders", ())]
    params: list[object] = [stream, checkpoint, last_sequence]
    for name, part in _PARTS.items():
        given = rows.get(name, ())
        if name == "changed_orders":
            given = changed
        elif part.table == "ledger_cancels":
            given = cancels.first_per_request(given)  # one statement may not change a row twice
        params.append(_ENCODER.encode(given).decode())
    if await conn.fetchval(WRITE_BATCH, *params) != 1:
        raise CheckpointMoved(
            f"checkpoint of {stream} is no longer at {checkpoint}: another projector wrote to this ledger"
        )
