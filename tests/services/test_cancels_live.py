"""Cancels with the paper executor as a real child process, `ingenium order cancel` as a real command, the ledger.

A cancel after a partial fill keeps the fill and leaves nothing; a cancel of a filled (or canceled) order is
answered ``cancel_rejected`` and the order stays as it was; a redelivered request gets the same answer, also
after the executor was killed; a request for an order nobody received is dead-lettered.
"""

from __future__ import annotations

import signal as signals
import subprocess
from decimal import Decimal
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import MSG_ID, JetStreamBus
from ingenium.config import Settings
from ingenium.consumers import takes
from ingenium.deadletter import REASON
from ingenium.events import ExecutionEvent, ExecutionUpdate, OrderType, SignalType, TimeInForce
from ingenium.testing import bar, eventually, order, signal, spawn, stream_events, stream_messages
from ledger import queries
from services.executor import PaperExecutor
from services.portfolio import RiskPortfolio
from tests.services.live import fresh, ingenium, running

EXECUTOR = ["run", "services.executor.paper:PaperExecutor", "--name", "paper", "-p", "volume_share=0.01"]


async def executions(nc: Client, settings: Settings) -> list[ExecutionEvent]:
    return [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]


async def started(nc: Client, settings: Settings) -> bool:
    try:
        info = await nc.jetstream().consumer_info(settings.subjects.stream("order"), "paper-order")
    except Exception:
        return False
    return takes(info.config, settings.subjects.cancel)


def stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signals.SIGTERM)
        child.wait(20)


async def test_cancel_after_a_partial_fill_keeps_the_fill_and_leaves_nothing(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    settings, log = db_settings, tmp_path / "executor.log"
    assert settings.database_url
    gtc = fresh(order("acme", quantity="25", order_type=OrderType.LIMIT, limit_price="101")).model_copy(
        update={"time_in_force": TimeInForce.GTC})
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        child = spawn(EXECUTOR, settings, log=log)
        try:
            await bus.publish(bar("acme", "100", volume=1000))
            await eventually(lambda: started(nc, settings), timeout=30)
            await bus.publish(gtc)  # marketable: 10 fill at once (1% of the bar's volume), 15 keep working
            await eventually(lambda: _count(nc, settings, 2), timeout=20)

            canceled = await ingenium(settings, "order", "cancel", gtc.id, "--reason", "changed my mind",
                                      "--wait", "30")
            assert canceled.returncode == 0, canceled.stderr + log.read_text()[-2000:]
            assert "canceled (filled 10): canceled on request: changed my mind" in canceled.stdout
            await bus.publish(bar("acme", "99", minutes=1, volume=1000))  # would have filled 10 more
            again = await ingenium(settings, "order", "cancel", gtc.id, "--wait", "30")
            assert again.returncode == 1 and "cancel_rejected" in again.stdout, again.stderr
            assert f"order {gtc.id} is canceled already" in again.stdout
            await eventually(lambda: _count(nc, settings, 4), timeout=20)
            await loop.settle([PaperExecutor(name="paper")])
        finally:
            stop(child)

    stored = await executions(nc, settings)
    assert [(e.update, e.quantity, e.cum_quantity, e.leaves_quantity) for e in stored] == [
        (ExecutionUpdate.ACCEPTED, 0, 0, 25),
        (ExecutionUpdate.PARTIAL_FILL, 10, 10, 15),
        (ExecutionUpdate.CANCELED, 0, 10, 0),
        (ExecutionUpdate.CANCEL_REJECTED, 0, 10, 0),
    ], log.read_text()[-2000:]
    requests = await queries.cancels(settings.database_url)
    assert [(c.order_id, c.status, c.requested_by, c.outcome_exec_id) for c in requests] == [
        (gtc.id, "canceled", "cli", stored[2].exec_id), (gtc.id, "rejected", "cli", stored[3].exec_id)]
    assert [c.cancel_id for c in requests] == [stored[2].cancel_id, stored[3].cancel_id]
    assert requests[0].reason == "changed my mind" and requests[1].outcome_reason == stored[3].reason
    [ledger_order] = await queries.orders(settings.database_url)
    assert (ledger_order.status, ledger_order.filled_quantity, ledger_order.quantity) == ("canceled", 10, 25)
    assert [(p.symbol, p.quantity) for p in await queries.positions(settings.database_url)] == [("acme", 10)]


async def test_cancel_of_a_filled_order_is_rejected_and_answered_the_same_after_a_kill(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    settings, log = db_settings, tmp_path / "executor.log"
    assert settings.database_url
    market = fresh(order("acme", quantity="5"))
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        child = spawn(EXECUTOR, settings, log=log)
        try:
            await bus.publish(bar("acme", "100", volume=1000))
            await eventually(lambda: started(nc, settings), timeout=30)
            await bus.publish(market)
            await eventually(lambda: _count(nc, settings, 1), timeout=20)
            refused = await ingenium(settings, "order", "cancel", market.id, "--wait", "30")
            assert refused.returncode == 1, refused.stderr + log.read_text()[-2000:]
            assert f"cancel_rejected (filled 5): order {market.id} is filled already" in refused.stdout

            child.send_signal(signals.SIGKILL)
            child.wait()
            child = spawn(EXECUTOR, settings, log=log)
            # The same request stored again under a new message id (what JetStream cannot drop once its window
            # has passed): the restarted executor answers it as the first time, with the same ids.
            [request] = [m for m in await stream_messages(nc, settings, "order")
                         if m.subject == settings.subjects.cancel]
            await nc.jetstream().publish(settings.subjects.cancel, request.data or b"", headers={MSG_ID: "again"})
            # A new request after the restart: the order ended in an earlier run, its first report says how.
            later = await ingenium(settings, "order", "cancel", market.id, "--wait", "30")
            assert later.returncode == 1 and f"order {market.id} is filled already" in later.stdout, later.stderr
            unknown = await ingenium(settings, "order", "cancel", "no-such-order")
            assert unknown.returncode == 0, unknown.stderr
            await eventually(lambda: _dead_letters(nc, settings), timeout=20)
            await loop.settle([PaperExecutor(name="paper")])
        finally:
            stop(child)

    stored = await executions(nc, settings)
    assert [e.update for e in stored] == [ExecutionUpdate.FILLED, ExecutionUpdate.CANCEL_REJECTED,
                                          ExecutionUpdate.CANCEL_REJECTED], log.read_text()[-2000:]
    assert stored[1].cancel_id != stored[2].cancel_id and stored[1].exec_id != stored[2].exec_id
    [letter] = await _dead_letters(nc, settings)
    assert "names order no-such-order, which paper never received" in letter
    requests = {c.order_id: c for c in await queries.cancels(settings.database_url)}
    assert requests["no-such-order"].status == "requested" and requests["no-such-order"].outcome_at is None
    refusals = [c for c in await queries.cancels(settings.database_url) if c.order_id == market.id]
    assert [c.status for c in refusals] == ["rejected", "rejected"]
    [ledger_order] = [o for o in await queries.orders(settings.database_url) if o.order_id == market.id]
    assert (ledger_order.status, ledger_order.filled_quantity) == ("filled", Decimal(5))
    events = await queries.fills(settings.database_url)
    assert len(events) == 1


async def _count(nc: Client, settings: Settings, n: int) -> bool:
    return len(await executions(nc, settings)) >= n


async def _dead_letters(nc: Client, settings: Settings) -> list[str]:
    return [(m.headers or {}).get(REASON, "") for m in await stream_messages(nc, settings, "deadletter")]


async def test_the_portfolio_cancels_an_order_open_longer_than_max_working_age(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    """Both components as real processes; no signal or execution comes after the order: the portfolio's timer
    finds it too old and cancels it."""
    settings = db_settings
    assert settings.database_url
    portfolio_args = ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "pf", "-p", "quantity=10",
                      "-p", "limit_offset_bps=10", "-p", "max_working_age=2s"]
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        await bus.publish(bar("acme", "100"))
        children = [spawn(EXECUTOR, settings, log=tmp_path / "executor.log"),
                    spawn(portfolio_args, settings, log=tmp_path / "portfolio.log")]
        try:
            await eventually(lambda: started(nc, settings), timeout=30)
            await bus.publish(fresh(signal("acme", SignalType.LONG, price="90")))  # limit 90.09: works unfilled
            await eventually(lambda: _count(nc, settings, 2), timeout=30)
            await loop.settle([PaperExecutor(name="paper"), RiskPortfolio(name="pf")])
        finally:
            for child in children:
                stop(child)

    logs = "".join((tmp_path / name).read_text()[-1500:] for name in ("executor.log", "portfolio.log"))
    stored = await executions(nc, settings)
    assert [(e.update, e.cum_quantity) for e in stored] == [(ExecutionUpdate.ACCEPTED, 0),
                                                            (ExecutionUpdate.CANCELED, 0)], logs
    [request] = await queries.cancels(settings.database_url)
    assert (request.requested_by, request.status, request.order_id) == ("pf", "canceled", stored[0].order_id)
    assert request.reason == "open longer than max_working_age 0:00:02"
    [ledger_order] = await queries.orders(settings.database_url)
    assert (ledger_order.status, ledger_order.time_in_force, ledger_order.order_type) == ("canceled", "day", "limit")
