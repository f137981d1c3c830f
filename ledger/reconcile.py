"""Reconciling executions that reached the ledger before their order, once the order arrives.

Such an execution is recorded as it comes (its fill in ``ledger_fills``, its side unknown if it did not carry
one) with an ``unknown_order`` anomaly that points at it. When the order arrives, the anomaly is taken back and
the execution applied to the order; a fill that waited for its order's side now counts, and the positions of its
symbol are refolded from all their fills in execution-stream order, exactly as if the order had come first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg

from ingenium.events import ExecutionEvent, Side
from ledger import batch_sql
from ledger.messages import parse
from ledger.projection import apply_cash, apply_execution, fold_position, is_fill
from ledger.projector_cache import ProjectorCache
from ledger.rows import Anomaly, FillRow, OrderState, PositionState


@dataclass
class Reconciled:
    """What reconciling changed besides the orders: anomalies found, positions refolded, whether cash moved."""

    anomalies: list[Anomaly] = field(default_factory=list)
    positions: dict[str, PositionState] = field(default_factory=dict)
    cash_changed: bool = False


async def reconcile(
    conn: asyncpg.Connection, execution_stream: str, orders: Mapping[str, OrderState], memory: ProjectorCache
) -> Reconciled:
    """Apply to newly arrived ``orders`` the executions that came before them (in the writing transaction)."""
    done = Reconciled()
    waiting = await batch_sql.take_waiting_executions(conn, execution_stream, list(orders))
    sided: dict[str, Side] = {}
    symbols: set[str] = set()
    for message in waiting:
        event = parse(message, "execution").event
        if not isinstance(event, ExecutionEvent):
            raise RuntimeError(f"audit row {message.stream} #{message.sequence} no longer parses as an execution")
        order = orders[event.order_id]
        done.anomalies += apply_execution(order, event, message.stream, message.sequence)
        if is_fill(event) and event.side is None:
            sided[event.fill_id] = order.side
            symbols.add(event.symbol)
    if not sided:
        return done
    cash = await memory.cash_account(conn)
    by_symbol: dict[str, list[FillRow]] = {}
    for fill in await batch_sql.fills_of_symbols(conn, symbols):
        if fill.exec_id in sided:
            fill.side = sided[fill.exec_id]
            apply_cash(cash, fill)
        by_symbol.setdefault(fill.symbol, []).append(fill)
    for symbol, rows in by_symbol.items():
        position = fold_position(symbol, rows)
        if position is not None:
            done.positions[symbol] = memory.positions[symbol] = position
        await batch_sql.refill(conn, [fill for fill in rows if fill.side is not None])
    done.cash_changed = True
    return done
