"""The ledger's accounting as plain functions over in-memory rows: no I/O, so they are easy to test and to trust.

Orders: each fill advances ``filled_quantity`` and the volume-weighted ``average_price``; the status moves
``new`` → ``partially_filled`` → ``filled``; a cancel, reject or expiry closes the order but keeps what was filled,
and a fill after that still counts while the status stays.

Positions and cash are moved by the money core, ``ingenium.accounting`` (average cost, exact round trips, average
prices and PnL at its fixed ``SCALE``), the same functions the portfolio's book and the backtest's account call.
Order totals are sums in its context, ``DECIMALS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ingenium import accounting
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderEvent, Side
from ledger.arithmetic import DECIMALS, ZERO, canonical
from ledger.rows import Anomaly, CashState, FillRow, OrderState, PositionState
from ledger.tables import AnomalyKind, OrderStatus

_CLOSING_UPDATES = {
    ExecutionUpdate.CANCELED: OrderStatus.CANCELED,
    ExecutionUpdate.REJECTED: OrderStatus.REJECTED,
    ExecutionUpdate.EXPIRED: OrderStatus.EXPIRED,
}
_OPEN = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
_add, _mul = DECIMALS.add, DECIMALS.multiply


def is_fill(execution: ExecutionEvent) -> bool:
    """Whether an execution moved quantity (identity checks: this runs once per execution)."""
    update = execution.update
    return update is ExecutionUpdate.PARTIAL_FILL or update is ExecutionUpdate.FILLED


def open_order(event: OrderEvent, sequence: int) -> OrderState:
    """Build the ledger row of a newly seen order."""
    return OrderState(
        order_id=event.id,
        strategy_id=event.strategy_id,
        signal_id=event.signal_id,
        symbol=event.symbol,
        side=event.side,
        order_type=event.type,
        time_in_force=event.time_in_force,
        quantity=event.quantity,
        limit_price=event.limit_price,
        status=OrderStatus.NEW,
        filled_quantity=ZERO,
        filled_notional=ZERO,
        commission=ZERO,
        reason=None,
        created_at=event.timestamp,
        updated_at=event.timestamp,
        stream_sequence=sequence,
    )


def apply_execution(order: OrderState, execution: ExecutionEvent, stream: str, sequence: int) -> list[Anomaly]:
    """Apply one execution report to its order; returns what it shows to be wrong (overfill, mismatches)."""
    anomalies: list[Anomaly] = []

    def flag(kind: AnomalyKind, detail: str) -> None:
        anomalies.append(
            Anomaly(stream, sequence, kind, order.order_id, execution.fill_id, execution.symbol, detail,
                    execution.execution_timestamp)
        )

    if execution.symbol != order.symbol:
        flag(AnomalyKind.SYMBOL_MISMATCH, f"execution is for {execution.symbol}, its order for {order.symbol}")
    if execution.side is not None and execution.side is not order.side:
        flag(AnomalyKind.SIDE_MISMATCH, f"execution says {execution.side.value}, its order {order.side.value}")
    if execution.execution_timestamp > order.updated_at:
        order.updated_at = execution.execution_timestamp
    filled = is_fill(execution)
    if filled:
        order.filled_quantity = _add(order.filled_quantity, execution.quantity)
        order.filled_notional = _add(order.filled_notional, _mul(execution.quantity, execution.price))
        if execution.commission:
            order.commission = _add(order.commission, execution.commission)
        if order.filled_quantity > order.quantity:
            # Canonical forms: the detail must read the same whether the values came from memory or PostgreSQL.
            flag(AnomalyKind.OVERFILL,
                 f"filled {canonical(order.filled_quantity)} of an order for {canonical(order.quantity)}")
    if order.status in _OPEN:
        closing = _CLOSING_UPDATES.get(execution.update)
        if closing is not None:
            order.status = closing
            order.reason = execution.reason
        elif execution.update is ExecutionUpdate.FILLED or order.filled_quantity >= order.quantity:
            order.status = OrderStatus.FILLED
        elif filled:
            order.status = OrderStatus.PARTIALLY_FILLED
    return anomalies


def unknown_order(execution: ExecutionEvent, stream: str, sequence: int) -> Anomaly:
    """Build the anomaly that stands while an execution's order has not reached the ledger."""
    return Anomaly(
        stream, sequence, AnomalyKind.UNKNOWN_ORDER, execution.order_id, execution.fill_id, execution.symbol,
        f"{execution.update.value} execution for order {execution.order_id}, which the ledger has not seen",
        execution.execution_timestamp,
    )


def fill_row(execution: ExecutionEvent, side: Side | None, sequence: int) -> FillRow:
    """Build the ``ledger_fills`` row of a fill; ``side`` is the execution's, else its order's, else unknown."""
    return FillRow(
        execution.fill_id, execution.order_id, execution.symbol, side, execution.quantity, execution.price,
        execution.commission or ZERO, execution.execution_timestamp, sequence,
    )


def empty_position(symbol: str, at: datetime) -> PositionState:
    """Build a flat position, before its first fill."""
    return PositionState(symbol=symbol, fills=0, updated_at=at)


def apply_fill(position: PositionState, fill: FillRow) -> None:
    """Move a position by one fill whose side is known; the fill records the PnL it realized."""
    if fill.side is None:
        raise ValueError(f"fill {fill.exec_id} has no side yet; it cannot move a position")
    fill.realized_pnl = accounting.apply_fill(position, fill.side, fill.quantity, fill.price, fill.commission)
    position.fills += 1
    if fill.executed_at > position.updated_at:
        position.updated_at = fill.executed_at


def fold_position(symbol: str, fills: Iterable[FillRow]) -> PositionState | None:
    """Compute a symbol's position from all its fills with a known side, in execution-stream order.

    Each fill's ``realized_pnl`` is set as it is applied.
    """
    position: PositionState | None = None
    for fill in fills:
        if fill.side is None:
            continue
        if position is None:
            position = empty_position(symbol, fill.executed_at)
        apply_fill(position, fill)
    return position


def apply_cash(cash: CashState, fill: FillRow) -> None:
    """Pay for a buy (or receive for a sell) and the commission; the fill's side must be known."""
    if fill.side is None:
        raise ValueError(f"fill {fill.exec_id} has no side yet; it cannot move cash")
    cash.balance = accounting.cash_after(cash.balance, fill.side, fill.quantity, fill.price, fill.commission)
    if fill.commission:
        cash.commissions = _add(cash.commissions, fill.commission)
    cash.fills += 1
    if cash.updated_at is None or fill.executed_at > cash.updated_at:
        cash.updated_at = fill.executed_at
