"""The AlpacaExecutor against a real Alpaca paper account: runs only with keys and INGENIUM_ALPACA_PAPER_TEST=1.

It reaches the internet, so it is off by default (see docs/venues.md).
"""

from __future__ import annotations

import os

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderType, TimeInForce
from ingenium.testing import eventually, order, stream_events
from ingenium.venue import DuplicateClientOrder
from services.executor.alpaca import AlpacaExecutor
from tests.services.live import running

pytestmark = pytest.mark.skipif(
    not (os.environ.get("APCA_API_KEY_ID") and os.environ.get("APCA_API_SECRET_KEY")
         and os.environ.get("INGENIUM_ALPACA_PAPER_TEST") == "1"),
    reason="needs APCA_API_KEY_ID, APCA_API_SECRET_KEY (paper keys) and INGENIUM_ALPACA_PAPER_TEST=1",
)


async def test_a_far_limit_order_is_placed_once_at_the_paper_account_and_canceled(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    far = order("aapl", quantity="1", order_type=OrderType.LIMIT, limit_price="1.00")
    far = far.model_copy(update={"time_in_force": TimeInForce.DAY})
    async with running(settings, nc) as loop:
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await bus.publish(far)

        async def accepted() -> bool:
            events = await stream_events(nc, settings, "execution")
            return any(isinstance(e, ExecutionEvent) and e.update is ExecutionUpdate.ACCEPTED for e in events)

        await eventually(accepted, timeout=30)
        venue = executor.venue
        assert venue is not None
        placed = await venue.order(far.id)
        assert placed is not None and placed.client_order_id == far.id
        with pytest.raises(DuplicateClientOrder):
            await venue.place(far)
        await venue.cancel(far.id)

        async def canceled() -> bool:
            events = await stream_events(nc, settings, "execution")
            return any(isinstance(e, ExecutionEvent) and e.update is ExecutionUpdate.CANCELED for e in events)

        await eventually(canceled, timeout=30)
