"""``Executor``: fills orders (a paper broker, later real brokers) and reports executions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ingenium.component import Component, ParamsT
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderEvent


class Executor(Component[ParamsT]):
    """Subclass and implement ``on_order`` (and ``on_cancel``); return one ``ExecutionEvent`` per fill or status change.

    ``on_cancel`` answers a ``CancelRequest`` with a ``canceled`` report (fills kept, nothing left) or a
    ``cancel_rejected`` one when the order is final already, both carrying the request's id as ``CancelId``.
    """

    kind = "executor"

    def execution(
        self,
        order: OrderEvent,
        update: ExecutionUpdate,
        *,
        quantity: Decimal = Decimal(0),
        price: Decimal = Decimal(0),
        cum_quantity: Decimal | None = None,
        avg_price: Decimal | None = None,
        commission: Decimal | None = None,
        reason: str | None = None,
        event_id: str | None = None,
        leaves_quantity: Decimal | None = None,
        executed_at: datetime | None = None,
        cancel_id: str | None = None,
    ) -> ExecutionEvent:
        """An execution report for ``order``; ``quantity``/``price`` are those of this one fill.

        ``event_id`` (also the ``ExecId``) defaults to one derived from the event being handled; an executor
        that must reproduce ids outside a handler (after a restart) passes its own. ``leaves_quantity``
        defaults to what the order has left after a fill, and zero for other updates. ``executed_at`` (the
        ``ExecutionTimestamp``) defaults to now; a venue passes its own time of the fill, and a simulated broker the
        time label of the bar whose price a fill took.
        ``cancel_id`` names the ``CancelRequest`` a ``canceled`` or ``cancel_rejected`` report answers.
        """
        now = self.clock.now()
        event_id = event_id or self.next_id("exec")
        cum = cum_quantity if cum_quantity is not None else quantity
        if leaves_quantity is None:
            leaves_quantity = max(order.quantity - cum, Decimal(0)) if update.moves_quantity else Decimal(0)
        return self.build_event(
            ExecutionEvent,
            id=event_id,
            timestamp=now,
            execution_timestamp=executed_at or now,
            order_id=order.id,
            symbol=order.symbol,
            quantity=quantity,
            price=price,
            update=update,
            exec_id=event_id,
            side=order.side,
            cum_quantity=cum,
            leaves_quantity=leaves_quantity,
            avg_price=avg_price,
            commission=commission,
            reason=reason,
            cancel_id=cancel_id,
        )
