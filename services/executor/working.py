"""An order the paper executor accepted and is still filling, as it holds it and as recovery rebuilds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ingenium.events import ExecutionUpdate, OrderEvent


@dataclass(slots=True)
class WorkingOrder:
    """An accepted order with quantity still to fill."""

    order: OrderEvent
    after: datetime | None
    day: date
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    fills: int = 0
    expired: bool = False

    @property
    def leaves(self) -> Decimal:
        """Quantity still to fill."""
        return self.order.quantity - self.filled

    @property
    def done(self) -> bool:
        """Whether the order is final (filled or expired)."""
        return self.expired or self.filled >= self.order.quantity

    @property
    def ending(self) -> ExecutionUpdate:
        """How a done order ended."""
        return ExecutionUpdate.EXPIRED if self.expired else ExecutionUpdate.FILLED
