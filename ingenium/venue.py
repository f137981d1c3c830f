"""The venue port: what an executor needs from a broker or exchange, as a small typed interface without I/O.

An adapter (``services.venues.alpaca`` today; ccxt or Interactive Brokers next) implements ``Venue`` in one
module; ``services.executor.venue.VenueExecutor`` turns any ``Venue`` into an Ingenium executor that places
orders idempotently, reports every fill exactly once and reconciles after restarts and reconnects.

Identity rules every adapter follows:

* An order is placed with the venue's client order id = the ``OrderEvent``'s ``Id``. A venue that refuses a
  reused client order id raises ``DuplicateClientOrder``; the executor then looks the order up instead.
* A fill is identified by (venue order id, cumulative quantity after it): both the update stream and the REST
  fill history carry these, and cumulative quantity strictly grows per fill, so the same fill gets the same
  ``fill_key`` whichever way it was learned of.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from ingenium.events import OrderEvent, Side


class VenueStatus(StrEnum):
    """Where an order stands at the venue, reduced to what an executor reports."""

    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REPLACED = "replaced"

    @property
    def final(self) -> bool:
        """Whether the order can change no more."""
        return self is not VenueStatus.OPEN


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One order as the venue sees it."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    filled_quantity: Decimal
    avg_price: Decimal | None
    status: VenueStatus
    updated_at: datetime
    reason: str | None = None

    @property
    def leaves(self) -> Decimal:
        """Quantity still to fill (0 once final)."""
        return Decimal(0) if self.status.final else max(self.quantity - self.filled_quantity, Decimal(0))


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One fill: its own quantity and price, and the order's cumulative and leaves quantity after it."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    cum_quantity: Decimal
    leaves_quantity: Decimal
    executed_at: datetime
    avg_price: Decimal | None = None

    @property
    def fill_key(self) -> str:
        """Identity of the fill, the same from the update stream and from the fill history."""
        return f"{self.venue_order_id}:{self.cum_quantity.normalize():f}"


@dataclass(frozen=True, slots=True)
class VenueUpdate:
    """One message of the venue's update stream: an order's new state, with the fill when it is one."""

    order: VenueOrder
    fill: VenueFill | None = None


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """A net position at the venue: positive long, negative short."""

    symbol: str
    quantity: Decimal


class VenueError(Exception):
    """Base of the errors a venue adapter raises."""


class OrderRefused(VenueError):
    """The venue refused the order or request for good (report it; retrying cannot help)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DuplicateClientOrder(VenueError):
    """The client order id was used before: the order is already at the venue."""


class TransientVenueError(VenueError):
    """Rate limit, timeout, 5xx or a dropped connection: the same request may succeed later."""


UpdateHandler = Callable[[VenueUpdate], Awaitable[None]]
ConnectHandler = Callable[[], Awaitable[None]]


class Venue(Protocol):
    """What an executor needs from a venue. Methods raise ``VenueError`` subclasses."""

    name: str

    async def place(self, order: OrderEvent) -> VenueOrder:
        """Place ``order`` with client order id ``order.id``; ``DuplicateClientOrder`` if that id was used."""
        ...

    async def cancel(self, client_order_id: str) -> None:
        """Ask the venue to cancel; the outcome arrives as an update. ``OrderRefused`` if it is final already."""
        ...

    async def order(self, client_order_id: str) -> VenueOrder | None:
        """The order placed with this client order id, or ``None`` if there is none."""
        ...

    async def orders_since(self, since: datetime) -> list[VenueOrder]:
        """Open orders, and orders that changed at or after ``since``."""
        ...

    async def fills_since(self, since: datetime) -> list[VenueFill]:
        """Every fill at or after ``since``, oldest first."""
        ...

    async def positions(self) -> list[VenuePosition]:
        """The account's open positions."""
        ...

    async def stream(self, on_update: UpdateHandler, on_connect: ConnectHandler) -> None:
        """Deliver updates until cancelled; call ``on_connect`` after every (re)connection is listening."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
