"""The paper executor dates a backtest fill by the bar whose price it took, and a live fill by when it happens.

The factories stamp orders at ``T0``, minutes before these clocks: ``max_order_age`` is widened so none is stale.
"""

from datetime import UTC, datetime, timedelta

from ingenium.clock import SimulatedClock
from ingenium.events import DataEvent, Event, OrderEvent, OrderType
from ingenium.testing import T0, bar, drive, drive_async, order
from services.executor import PaperExecutor


async def submit(executor: PaperExecutor, event: OrderEvent) -> list[Event]:
    return await drive_async(executor, event)


def tick(executor: PaperExecutor, clock: SimulatedClock, event: DataEvent) -> list[Event]:
    clock.advance_to(event.timestamp)  # the bar's end, when it became known (as in a backtest)
    return drive(executor, event)


async def test_next_open_fill_carries_the_next_bars_label() -> None:
    clock = SimulatedClock()
    executor = PaperExecutor(fill_at="next_open", clock=clock, max_order_age="1h")
    tick(executor, clock, bar(close="100"))
    [accepted] = await submit(executor, order(quantity="1"))
    assert accepted.execution_timestamp == T0 + timedelta(minutes=1)  # not a fill: when it was accepted
    [fill] = tick(executor, clock, bar(open="101", close="102", minutes=1))
    assert fill.price == 101 and fill.execution_timestamp == T0 + timedelta(minutes=1)  # the next bar's start
    assert fill.timestamp == T0 + timedelta(minutes=2)  # the event itself was made at that bar's end


async def test_close_fill_carries_the_deciding_bars_label_and_limit_fills_their_bars() -> None:
    clock = SimulatedClock()
    executor = PaperExecutor(fill_at="close", clock=clock, max_order_age="1h")
    tick(executor, clock, bar(close="100", minutes=5))
    [fill] = await submit(executor, order(quantity="1"))
    assert fill.price == 100 and fill.execution_timestamp == T0 + timedelta(minutes=5)
    await submit(executor, order(quantity="1", order_type=OrderType.LIMIT, limit_price="98"))
    [limit] = tick(executor, clock, bar(open="99", close="97", minutes=6))
    assert limit.price == 98 and limit.execution_timestamp == T0 + timedelta(minutes=6)


async def test_live_fills_at_the_last_price_are_dated_now() -> None:
    clock = SimulatedClock(datetime(2024, 3, 1, 15, tzinfo=UTC))
    executor = PaperExecutor(clock=clock, max_order_age="1h")  # fill_at="last", the live default
    drive(executor, bar(close="100"))
    [fill] = await submit(executor, order(quantity="1"))
    assert fill.execution_timestamp == clock.now()
