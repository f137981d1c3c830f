"""``Portfolio``: turns signals into orders and tracks positions from executions."""

from __future__ import annotations

from decimal import Decimal

from ingenium.component import Component, ParamsT
from ingenium.events import CancelRequest, OrderEvent, OrderType, Side, SignalEvent, TimeInForce
from ingenium.ids import derive_id


class Portfolio(Component[ParamsT]):
    """Subclass and implement ``on_signal`` (size, check risk, return orders) and ``on_execution``.

    Order ids derive from the signal being handled, so a redelivered signal yields the same order id
    and JetStream drops the duplicate.
    """

    kind = "portfolio"

    def order(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        *,
        order_type: OrderType = OrderType.MARKET,
        limit_price: Decimal | None = None,
        time_in_force: TimeInForce = TimeInForce.DAY,
        signal: SignalEvent | None = None,
    ) -> OrderEvent:
        """A new order from this portfolio."""
        return self.build_event(
            OrderEvent,
            id=self.next_id("order"),
            timestamp=self.clock.now(),
            symbol=symbol,
            side=side,
            quantity=quantity,
            type=order_type,
            limit_price=limit_price,
            time_in_force=time_in_force,
            strategy_id=signal.strategy_id if signal is not None else self.name,
            signal_id=signal.id if signal is not None else None,
        )

    def cancel(self, order_id: str, *, reason: str | None = None) -> CancelRequest:
        """A request to cancel one of this portfolio's orders.

        Its id derives from (portfolio, order), so asking again (after a restart, from a timer and from a handler)
        is the same request, which JetStream drops.
        """
        return self.build_event(
            CancelRequest,
            id=derive_id("cancel", self.name, order_id),
            timestamp=self.clock.now(),
            order_id=order_id,
            reason=reason,
            requested_by=self.name,
        )
