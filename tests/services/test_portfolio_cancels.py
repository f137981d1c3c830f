"""The portfolio cancels its own orders once they are older than ``max_working_age``, in process (backtest path).

RiskPortfolio and PaperExecutor on the in-memory bus and one simulated clock: a limit order below the market
works unfilled; the first signal after ``max_working_age`` sends a cancel request, the executor cancels, and the
portfolio's book no longer counts the order, so the next signal trades again.
"""

from __future__ import annotations

from datetime import timedelta

from ingenium.backtest import InMemoryBus
from ingenium.clock import SimulatedClock
from ingenium.events import CancelRequest, Event, ExecutionEvent, ExecutionUpdate, OrderEvent, SignalType
from ingenium.testing import T0, bar, signal
from services.executor import PaperExecutor
from services.portfolio import RiskPortfolio


async def test_an_order_older_than_max_working_age_is_canceled_and_the_book_frees_it() -> None:
    clock = SimulatedClock(T0)
    bus = InMemoryBus(clock=clock)
    portfolio = RiskPortfolio(name="pf", clock=clock, quantity="10", limit_offset_bps="10", max_working_age="1h")
    executor = PaperExecutor(name="paper", clock=clock)
    seen: list[Event] = []
    for kind in ("order", "cancel", "execution"):
        bus.tap(kind, seen.append)
    bus.attach(portfolio)
    bus.attach(executor)

    await bus.publish(bar("acme", "100"))
    await bus.publish(signal("acme", SignalType.LONG, price="90"))  # limit 90.09, below the market: it works
    [placed] = [e for e in seen if isinstance(e, OrderEvent)]
    assert placed.limit_price is not None and executor.working_order(placed.id) is not None

    async def long_at(minutes: int) -> None:
        clock.advance_to(T0 + timedelta(minutes=minutes))
        await bus.publish(signal("acme", SignalType.LONG, price="90", event_id=f"sig-{minutes}").model_copy(
            update={"timestamp": clock.now()}))

    await long_at(59)  # the order is young enough: kept (and the signal adds nothing: it is under way)
    assert not [e for e in seen if isinstance(e, CancelRequest)] and len(seen) == 2
    await long_at(61)
    [request] = [e for e in seen if isinstance(e, CancelRequest)]
    assert (request.order_id, request.requested_by) == (placed.id, "pf")
    assert request.reason == "open longer than max_working_age 1:00:00"
    canceled = [e for e in seen if isinstance(e, ExecutionEvent) and e.update is ExecutionUpdate.CANCELED]
    assert [(e.order_id, e.cancel_id, e.cum_quantity, e.leaves_quantity) for e in canceled] == [
        (placed.id, request.id, 0, 0)]
    assert executor.working_order(placed.id) is None
    # The same signal after the cancel: the book holds nothing open, so the portfolio trades again.
    await long_at(62)
    orders = [e for e in seen if isinstance(e, OrderEvent)]
    assert len(orders) == 2 and orders[1].id != placed.id and portfolio.book.open_orders.keys() == {orders[1].id}
