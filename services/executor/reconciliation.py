"""One reconciliation of a venue executor: what the venue says since the checkpoint, read before reports are made.

The reading (REST, which takes time) happens before the runtime gives the executor its turn to make the reports,
so the venue's stream updates are reported meanwhile, as they come.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingenium.events import OrderEvent
from ingenium.venue import Venue, VenueFill, VenueOrder


@dataclass(eq=False)
class Reconciliation:
    """A reconciliation asked for; ``done`` says, once it is over, whether its reports were stored."""

    done: asyncio.Future[bool]
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    since: datetime | None = None
    #: Orders that ended, forgotten once the reports are stored; how many reports there were.
    finished: list[str] = field(default_factory=list)
    reports: int = 0
    fills: list[VenueFill] = field(default_factory=list)
    working: list[tuple[OrderEvent, VenueOrder]] = field(default_factory=list)

    async def read(self, venue: Venue, since: datetime, working: list[OrderEvent]) -> None:
        """Read the fills since ``since`` and the venue's state of each of the ``working`` orders."""
        self.since = since
        self.fills = await venue.fills_since(since)
        known = {o.client_order_id: o for o in await venue.orders_since(since)}
        for order in working:
            found = known.get(order.id) or await venue.order(order.id)
            if found is not None:  # else marked before a placement that never happened: a redelivery places it
                self.working.append((order, found))
