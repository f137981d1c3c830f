"""The paper executor on real NATS: idempotency by order id across restarts, working orders across SIGKILL."""

import signal as signals
from decimal import Decimal
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderType
from ingenium.runmode import RunMode
from ingenium.testing import bar, eventually, order, spawn, stream_events
from services.executor import PaperExecutor
from tests.services.live import fresh, running


async def executions(nc: Client, settings: Settings) -> list[ExecutionEvent]:
    return [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]


async def test_duplicate_order_after_the_dedup_window_and_a_restart_fills_once(
    settings: Settings, nc: Client, bus: JetStreamBus, caplog: pytest.LogCaptureFixture
) -> None:
    first_order = fresh(order("acme", quantity="7"))
    async with running(settings, nc) as loop:
        runner = await loop.start(PaperExecutor(name="paper", max_fill_quantity=3))
        await bus.publish(bar("acme", "50"))
        await eventually(lambda: runner.component._bars)  # type: ignore[attr-defined]
        await bus.publish(first_order)
        await eventually(lambda: _count(nc, settings, 3))
        await loop.stop(runner)

        # The same order stored again under a new message id: what JetStream cannot drop once the window passed.
        await nc.jetstream().publish(settings.subjects.order, first_order.to_json(), headers={"Nats-Msg-Id": "again"})
        restarted = PaperExecutor(name="paper", max_fill_quantity=3)
        await loop.start(restarted)
        await loop.settle([restarted])

    # The restarted executor found the order in its KV bucket and replayed its first report with the same ids,
    # which JetStream dropped as duplicates: the order was executed once.
    assert f"order {first_order.id} was handled before" in caplog.text
    stored = await executions(nc, settings)
    assert [e.update for e in stored] == [ExecutionUpdate.PARTIAL_FILL] * 2 + [ExecutionUpdate.FILLED]
    assert sum(e.quantity for e in stored) == 7 and len({e.fill_id for e in stored}) == 3
    assert restarted.working_order(first_order.id) is None


async def _count(nc: Client, settings: Settings, n: int) -> bool:
    return len(await executions(nc, settings)) >= n


async def test_working_order_resumes_after_sigkill(settings: Settings, nc: Client, bus: JetStreamBus,
                                                   tmp_path: Path) -> None:
    args = ["run", "services.executor.paper:PaperExecutor", "--name", "paper", "-p", "volume_share=0.01"]
    log = tmp_path / "executor.log"
    child = spawn(args, settings, log=log)
    try:
        await bus.publish(bar("acme", "100", volume=1000))
        big = fresh(order("acme", quantity="25"))
        await eventually(lambda: _consumer_exists(nc, settings), timeout=20)
        await bus.publish(big)
        await eventually(lambda: _count(nc, settings, 2), timeout=20)  # accepted, then 10 at once
        child.send_signal(signals.SIGKILL)
        child.wait()
        await bus.publish(bar("acme", "101", minutes=1, volume=1000))  # arrives while the executor is dead
        child = spawn(args, settings, log=log)
        await eventually(lambda: _count(nc, settings, 3), timeout=20)
        await bus.publish(bar("acme", "102", minutes=2, volume=1000))
        await eventually(lambda: _count(nc, settings, 4), timeout=20)
    finally:
        child.send_signal(signals.SIGTERM)
        child.wait(10)

    stored = await executions(nc, settings)
    assert [(e.update, e.quantity, e.price, e.cum_quantity) for e in stored] == [
        (ExecutionUpdate.ACCEPTED, Decimal(0), Decimal(0), Decimal(0)),
        (ExecutionUpdate.PARTIAL_FILL, Decimal(10), Decimal(100), Decimal(10)),
        (ExecutionUpdate.PARTIAL_FILL, Decimal(10), Decimal(101), Decimal(20)),
        (ExecutionUpdate.FILLED, Decimal(5), Decimal(102), Decimal(25)),
    ], log.read_text()[-2000:]
    assert len({e.exec_id for e in stored}) == 4


async def _consumer_exists(nc: Client, settings: Settings) -> bool:
    try:
        await nc.jetstream().consumer_info(settings.subjects.stream("order"), "paper-order")
    except Exception:
        return False
    return True


async def test_orders_for_unknown_symbols_are_rejected_live(settings: Settings, nc: Client, bus: JetStreamBus) -> None:
    async with running(settings, nc) as loop:
        executor = PaperExecutor(name="paper", symbols=["acme"])
        await loop.start(executor)
        await bus.publish(fresh(order("other")))
        await bus.publish(fresh(order("acme")))
        await loop.settle([executor])
    stored = await executions(nc, settings)
    assert [e.update for e in stored] == [ExecutionUpdate.REJECTED, ExecutionUpdate.REJECTED]
    assert "unknown symbol other" in (stored[0].reason or "") and "no price yet" in (stored[1].reason or "")


async def test_live_the_order_handler_returns_its_report_and_fills_for_the_runtime_to_publish(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    """Live as in a backtest, ``on_order`` returns what it executed; nothing is published from inside it."""
    async with running(settings, nc) as loop:
        runner = await loop.start(PaperExecutor(name="paper", max_fill_quantity=3))
        executor = runner.component
        assert isinstance(executor, PaperExecutor) and executor.context is not None
        assert executor.context.mode is RunMode.LIVE
        await bus.publish(bar("acme", "50"))
        await eventually(lambda: executor._bars)

        direct = fresh(order("acme", quantity="7"))
        executor.begin(direct)
        returned = executor.collect(await executor.on_order(direct))
        assert [(e.update, e.quantity, e.cum_quantity) for e in returned] == [
            (ExecutionUpdate.PARTIAL_FILL, Decimal(3), Decimal(3)),
            (ExecutionUpdate.PARTIAL_FILL, Decimal(3), Decimal(6)),
            (ExecutionUpdate.FILLED, Decimal(1), Decimal(7)),
        ]
        assert await executions(nc, settings) == []  # the handler only returned them

        # Through its consumer, the runtime publishes what the handler returns, report first.
        resting = fresh(order("acme", quantity="4", order_type=OrderType.LIMIT, limit_price="45"))
        await bus.publish(resting)
        await eventually(lambda: _count(nc, settings, 1))
        await bus.publish(bar("acme", "44", minutes=1))
        await eventually(lambda: _count(nc, settings, 3))
        await loop.settle([executor])
    stored = await executions(nc, settings)
    assert [(e.order_id, e.update, e.quantity) for e in stored] == [
        (resting.id, ExecutionUpdate.ACCEPTED, Decimal(0)),
        (resting.id, ExecutionUpdate.PARTIAL_FILL, Decimal(3)),
        (resting.id, ExecutionUpdate.FILLED, Decimal(1)),
    ]


async def test_a_copy_of_a_working_order_after_a_restart_is_replayed_and_fills_once(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    """A working order is claimed as before (a read, the marker, the report); a copy finds the report."""
    resting = fresh(order("acme", quantity="4", order_type=OrderType.LIMIT, limit_price="45"))
    async with running(settings, nc) as loop:
        runner = await loop.start(PaperExecutor(name="paper"))
        await bus.publish(bar("acme", "50"))
        await eventually(lambda: runner.component._bars)  # type: ignore[attr-defined]
        await bus.publish(resting)
        await eventually(lambda: _count(nc, settings, 1))  # accepted, working
        await loop.stop(runner)

        await nc.jetstream().publish(settings.subjects.order, resting.to_json(), headers={"Nats-Msg-Id": "again"})
        restarted = PaperExecutor(name="paper")
        await loop.start(restarted)
        await loop.settle([restarted])
        assert restarted.working_order(resting.id) is not None
        await bus.publish(bar("acme", "44", minutes=1))
        await eventually(lambda: _count(nc, settings, 2))
        await loop.settle([restarted])
    stored = await executions(nc, settings)
    assert [(e.update, e.quantity) for e in stored] == [(ExecutionUpdate.ACCEPTED, 0), (ExecutionUpdate.FILLED, 4)]


async def test_a_duplicate_order_takes_none_of_the_bars_volume(
    settings: Settings, nc: Client, bus: JetStreamBus
) -> None:
    """A copy is decided before the order log says it is one: the volume that decision took is given back."""
    first, other = fresh(order("acme", quantity="5")), fresh(order("acme", quantity="5"))
    async with running(settings, nc) as loop:
        runner = await loop.start(PaperExecutor(name="paper", volume_share="0.01"))
        await bus.publish(bar("acme", "50", volume=1000))  # 10 may trade on this bar
        await eventually(lambda: runner.component._bars)  # type: ignore[attr-defined]
        await bus.publish(first)
        await eventually(lambda: _count(nc, settings, 1))
        await nc.jetstream().publish(settings.subjects.order, first.to_json(), headers={"Nats-Msg-Id": "again"})
        await bus.publish(other)
        await eventually(lambda: _count(nc, settings, 2))
        await loop.settle([runner.component])
    stored = await executions(nc, settings)
    assert [(e.order_id, e.update, e.quantity) for e in stored] == [
        (first.id, ExecutionUpdate.FILLED, 5), (other.id, ExecutionUpdate.FILLED, 5),
    ]
