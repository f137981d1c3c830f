"""The paper executor's fill model, in memory: partial fills, slippage, commission, limits, rejects."""

from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from ingenium.clock import SimulatedClock
from ingenium.errors import PermanentFailure
from ingenium.events import DataEvent, Event, ExecutionEvent, ExecutionUpdate, OrderEvent, OrderType, Side
from ingenium.testing import T0, bar, cancel, drive, drive_async, order
from services.executor import MemoryOrderLog, PaperExecutor, WorkingRecord
from services.executor.cancels import Endings
from services.executor.paper import stale_orders


def executor_at_t0(**params: Any) -> PaperExecutor:
    """A PaperExecutor whose clock stands at the time the test events are stamped (``T0``), so none is stale."""
    return PaperExecutor(clock=SimulatedClock(T0), **params)


async def submit(executor: PaperExecutor, event: OrderEvent) -> list[ExecutionEvent]:
    return executions(await drive_async(executor, event))


def tick(executor: PaperExecutor, event: DataEvent) -> list[ExecutionEvent]:
    return executions(drive(executor, event))


def executions(emitted: list[Event]) -> list[ExecutionEvent]:
    assert all(isinstance(e, ExecutionEvent) for e in emitted), emitted
    return cast(list[ExecutionEvent], emitted)


def updates(executions: list[ExecutionEvent]) -> list[str]:
    return [e.update.value for e in executions]


async def test_partial_fills_by_max_quantity_add_up() -> None:
    executor = executor_at_t0(max_fill_quantity=4, slippage_bps=10, commission_per_share="0.01")
    tick(executor, bar(close="100"))
    executions = await submit(executor, order(quantity="10"))
    assert updates(executions) == ["partial_fill", "partial_fill", "filled"]
    assert [e.quantity for e in executions] == [4, 4, 2]
    assert [e.cum_quantity for e in executions] == [4, 8, 10]
    assert [e.leaves_quantity for e in executions] == [6, 2, 0]
    assert all(e.price == Decimal("100.1") and e.avg_price == Decimal("100.1") for e in executions)
    assert [e.commission for e in executions] == [Decimal("0.04"), Decimal("0.04"), Decimal("0.02")]
    assert len({e.exec_id for e in executions}) == 3 and all(e.side is Side.BUY for e in executions)


async def test_slippage_goes_against_sells_and_commission_in_bps() -> None:
    executor = executor_at_t0(slippage_bps=25, commission_bps=7)
    tick(executor, bar(close="80"))
    [execution] = await submit(executor, order(side=Side.SELL, quantity="3"))
    assert execution.update is ExecutionUpdate.FILLED
    assert execution.price == Decimal("79.8")
    assert execution.commission == Decimal("0.1676")  # 3 × 79.80 × 7 bps = 0.16758, rounded up


async def test_volume_share_spreads_fills_over_bars_at_next_open() -> None:
    executor = executor_at_t0(fill_at="next_open", volume_share="0.01")
    tick(executor, bar(close="100", volume=1000))
    assert updates(await submit(executor, order(quantity="25"))) == ["accepted"]
    first = tick(executor, bar(open="101", close="102", minutes=1, volume=1000))
    second = tick(executor, bar(open="103", close="104", minutes=2, volume=1000))
    third = tick(executor, bar(open="105", close="105", minutes=3, volume=550))
    assert [(e.update.value, e.quantity, e.price) for e in first + second + third] == [
        ("partial_fill", Decimal(10), Decimal(101)), ("partial_fill", Decimal(10), Decimal(103)),
        ("filled", Decimal(5), Decimal(105))]
    assert third[0].avg_price == Decimal("102.6")
    assert tick(executor, bar(close="106", minutes=4)) == []


async def test_the_bar_taken_on_start_lends_its_volume_once_even_before_it_arrives() -> None:
    """Live, an executor starts with the stored latest bar; an order may come before that bar is delivered."""
    executor = executor_at_t0(volume_share="0.01")
    latest = bar(close="100", volume=1000)  # 10 may trade on it
    executor.remember_bar(latest.symbol, latest.bar)
    assert [(e.update.value, e.quantity) for e in await submit(executor, order(quantity="6"))] == [("filled", 6)]
    assert tick(executor, latest) == []  # the same bar, delivered now: no new volume
    assert [(e.update.value, e.quantity) for e in await submit(executor, order(quantity="6"))] == [
        ("accepted", 0), ("partial_fill", 4)]
    assert [(e.update.value, e.quantity) for e in tick(executor, bar(close="101", minutes=1, volume=1000))] == [
        ("filled", 2)]


class BarDuringClaim(MemoryOrderLog):
    """The in-memory order log, with a bar arriving while an order is claimed (live, the bar consumer runs on)."""

    def __init__(self, executor: PaperExecutor, arriving: DataEvent) -> None:
        super().__init__()
        self.executor, self.arriving = executor, arriving

    async def claim(self, order: OrderEvent, executions: list[ExecutionEvent],
                    working: WorkingRecord | None) -> list[ExecutionEvent] | None:
        if order.id in self._reports:
            self.executor.on_data(self.arriving)
        return await super().claim(order, executions, working)


async def test_a_duplicate_gives_back_the_volume_it_took_only_from_its_own_bar() -> None:
    executor = executor_at_t0(volume_share="0.01")
    executor.order_log = BarDuringClaim(executor, bar(close="101", minutes=1, volume=2000))  # 20 may trade on it
    tick(executor, bar(close="100", volume=1000))
    first = order(quantity="5")
    assert [(e.update.value, e.quantity) for e in await submit(executor, first)] == [("filled", 5)]
    assert [e.quantity for e in await submit(executor, first)] == [5]  # a copy, decided on the old bar's 5 left
    # The old bar's volume is not written over the new bar's: all 20 of it are there for the next order.
    assert [(e.update.value, e.quantity) for e in await submit(executor, order(quantity="20"))] == [("filled", 20)]


async def test_close_and_last_fill_at_the_latest_close() -> None:
    for mode in ("close", "last"):
        executor = executor_at_t0(fill_at=mode)
        tick(executor, bar(open="99", close="100"))
        [execution] = await submit(executor, order(quantity="1"))
        assert execution.price == 100


async def test_limit_orders_fill_when_price_crosses_and_day_orders_expire() -> None:
    executor = executor_at_t0()
    tick(executor, bar(close="100"))
    buy = order(quantity="5", order_type=OrderType.LIMIT, limit_price="98")
    assert updates(await submit(executor, buy)) == ["accepted"]
    assert tick(executor, bar(open="100", close="99", minutes=1)) == []
    [filled] = tick(executor, bar(open="99", close="97", minutes=2))
    assert filled.update is ExecutionUpdate.FILLED and filled.price == 98
    gap = order(quantity="1", order_type=OrderType.LIMIT, limit_price="96")
    await submit(executor, gap)
    [through] = tick(executor, bar(open="95", close="96", minutes=3))
    assert through.price == 95  # opened below the limit: the better price
    marketable = order(side=Side.SELL, quantity="2", order_type=OrderType.LIMIT, limit_price="90")
    [now] = await submit(executor, marketable)
    assert now.update is ExecutionUpdate.FILLED and now.price == 96
    stale = order(side=Side.SELL, quantity="2", order_type=OrderType.LIMIT, limit_price="200")
    await submit(executor, stale)
    [expired] = tick(executor, bar(close="96", minutes=60 * 24))
    assert expired.update is ExecutionUpdate.EXPIRED and expired.reason == "day order expired unfilled"


async def test_rejects_unknown_symbols_and_missing_prices() -> None:
    executor = executor_at_t0(symbols=["acme"])
    [no_price] = await submit(executor, order("acme"))
    assert no_price.update is ExecutionUpdate.REJECTED and "no price yet for acme" in (no_price.reason or "")
    [unknown] = await submit(executor, order("other"))
    assert unknown.update is ExecutionUpdate.REJECTED and "unknown symbol other" in (unknown.reason or "")
    assert unknown.quantity == 0 and unknown.leaves_quantity == 0


async def test_duplicate_order_replays_the_first_report_and_old_bars_are_ignored() -> None:
    executor = executor_at_t0(max_fill_quantity=5)
    tick(executor, bar(close="100", minutes=5))
    assert tick(executor, bar(close="50", minutes=4)) == []  # older than what it has: not a price
    first = order(quantity="8")
    executions = await submit(executor, first)
    assert [e.price for e in executions] == [100, 100]
    again = await submit(executor, first)
    assert [e.model_dump() for e in again] == [e.model_dump() for e in executions]
    # The in-process log keeps field values, not the models: the replay is the same events, byte for byte.
    assert again == executions and [e.to_json() for e in again] == [e.to_json() for e in executions]
    twin = executor_at_t0(max_fill_quantity=5)
    tick(twin, bar(close="100", minutes=5))
    assert [e.id for e in await submit(twin, first)] == [e.id for e in executions]


async def test_an_in_process_run_remembers_its_latest_orders_only() -> None:
    executor = executor_at_t0()
    executor.order_log, executor.endings = MemoryOrderLog(size=2), Endings(size=2)
    tick(executor, bar(close="100"))
    first, second, third = order(quantity="1"), order(quantity="2"), order(quantity="3")
    reports = [await submit(executor, each) for each in (first, second, third)]
    assert await executor.order_log.get(first.id) is None  # forgotten: memory stays bounded on a long run
    assert await submit(executor, third) == reports[2]  # the latest still replay their first report
    [rejected] = executions(await drive_async(executor, cancel(second)))
    assert rejected.update is ExecutionUpdate.CANCEL_REJECTED and "filled already" in (rejected.reason or "")
    with pytest.raises(PermanentFailure, match=f"names order {first.id}, which paper_executor never received"):
        await drive_async(executor, cancel(first))


async def test_order_older_than_max_order_age_is_rejected_unfilled_and_counted() -> None:
    name = "paper-stale-unit"
    executor = PaperExecutor(name=name, clock=SimulatedClock(T0 + timedelta(minutes=3)), max_order_age="2m")
    tick(executor, bar(close="100"))
    before = stale_orders.total(**{"ingenium.component": name})
    [report] = await submit(executor, order(quantity="10"))  # stamped T0: three minutes old
    assert report.update is ExecutionUpdate.REJECTED and report.quantity == 0
    assert "stale order: it is 180s old, beyond max_order_age 0:02:00" in (report.reason or "")
    assert stale_orders.total(**{"ingenium.component": name}) == before + 1
    order_copy = order(quantity="10").model_copy(update={"id": report.order_id})
    assert [e.id for e in await submit(executor, order_copy)] == [report.id]  # replayed, not counted again
    assert stale_orders.total(**{"ingenium.component": name}) == before + 1
    recent = order(quantity="10").model_copy(update={"timestamp": T0 + timedelta(minutes=1, seconds=30)})
    assert updates(await submit(executor, recent)) == ["filled"]


async def test_orders_the_paper_broker_cannot_simulate_are_rejected_never_traded_plainly() -> None:
    executor = executor_at_t0()
    tick(executor, bar("acme"))
    stop = order("acme").model_copy(update={"type": OrderType.STOP, "stop_price": Decimal("99")})
    [rejected] = await submit(executor, OrderEvent.model_validate(stop.model_dump()))
    assert rejected.update is ExecutionUpdate.REJECTED and "stop orders are not simulated" in (rejected.reason or "")
    raw = order("acme", event_id="bracket-1").model_dump(by_alias=True, mode="json")
    raw.update(TakeProfit="120", StopLoss={"LimitPrice": "", "StopPrice": "90"})
    [bracket] = await submit(executor, OrderEvent.model_validate(raw))
    assert bracket.update is ExecutionUpdate.REJECTED and "bracket orders" in (bracket.reason or "")
    assert bracket.quantity == 0 and bracket.cum_quantity == 0
