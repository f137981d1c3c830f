"""Cancels at the fake Alpaca through the SDK: a real executor process, `ingenium order cancel`, the ledger.

A cancel after a partial fill, with the executor SIGKILLed after the venue canceled but before it heard back:
the restarted executor reports ``canceled`` once (fill kept, nothing left) with the request's id and does not ask
again. A cancel of a filled order: Alpaca answers 422, reported ``cancel_rejected`` with Alpaca's message; the
order stays filled, and the same request delivered again is not sent again.
"""

from __future__ import annotations

import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.bus import MSG_ID, JetStreamBus
from ingenium.config import Settings
from ingenium.events import CancelRequest, ExecutionEvent, ExecutionUpdate, OrderType, TimeInForce
from ingenium.testing import cancel, eventually, order, spawn, stream_events, stream_messages
from ledger import queries
from services.executor.alpaca import AlpacaExecutor
from tests.services.live import ingenium, running
from tests.venue.model import FakeOrder
from tests.venue.server import FakeAlpaca
from tests.venue.test_alpaca_crash import kill, stop, tail

ARGS = ["run", "services.executor.alpaca:AlpacaExecutor", "--name", "alpaca"]


async def executions(nc: Client, settings: Settings) -> list[ExecutionEvent]:
    return [e for e in await stream_events(nc, settings, "execution") if isinstance(e, ExecutionEvent)]


async def count(nc: Client, settings: Settings, n: int) -> bool:
    return len(await executions(nc, settings)) >= n


async def test_cancel_after_a_partial_fill_killed_before_the_answer_reports_it_once(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, log = db_settings, tmp_path / "executor.log"
    assert settings.database_url
    monkeypatch.setenv("PYTHONFAULTHANDLER", "1")
    gtc = order("acme", quantity="10", order_type=OrderType.LIMIT, limit_price="50").model_copy(
        update={"time_in_force": TimeInForce.GTC})
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        child = spawn(ARGS, settings, log=log)
        try:
            await bus.publish(gtc)
            await eventually(lambda: gtc.id in alpaca.state.orders and alpaca.connections >= 1, timeout=30)
            alpaca.state.fill(gtc.id, 4, "49.5")
            await eventually(lambda: count(nc, settings, 2), timeout=20)

            def die(canceled: FakeOrder, pid: int = child.pid) -> None:
                os.kill(pid, signal.SIGKILL)  # canceled at the venue; the executor never hears back

            alpaca.state.on_canceled = die
            asked = await ingenium(settings, "order", "cancel", gtc.id, "--reason", "too old")
            assert asked.returncode == 0, asked.stderr
            await eventually(lambda: child.poll() is not None, timeout=30)
            alpaca.state.on_canceled = None
            await kill(child)
            child = spawn(ARGS, settings, log=log)
            await eventually(lambda: count(nc, settings, 3), timeout=30)
            await loop.settle([AlpacaExecutor(name="alpaca")], within=60)
        finally:
            await stop(child, log)

    stored = await executions(nc, settings)
    [request] = [CancelRequest.from_json(m.data or b"") for m in await stream_messages(nc, settings, "order")
                 if m.subject == settings.subjects.cancel]
    assert [(e.update, e.quantity, e.cum_quantity, e.leaves_quantity) for e in stored] == [
        (ExecutionUpdate.ACCEPTED, 0, 0, 10),
        (ExecutionUpdate.PARTIAL_FILL, 4, 4, 6),
        (ExecutionUpdate.CANCELED, 0, 4, 0),
    ], tail(log)
    assert stored[2].cancel_id == request.id and stored[2].reason == "canceled on request: too old"
    assert alpaca.state.orders[gtc.id].status == "canceled"
    assert alpaca.state.cancel_requests == 1  # the redelivered request found its answer recorded
    [ledger_order] = await queries.orders(settings.database_url)
    assert (ledger_order.status, ledger_order.filled_quantity) == ("canceled", 4)
    [row] = await queries.cancels(settings.database_url)
    assert (row.cancel_id, row.status, row.outcome_exec_id, row.reason) == (
        request.id, "canceled", stored[2].exec_id, "too old")


async def test_cancel_of_a_filled_order_is_rejected_with_alpacas_reason(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca, tmp_path: Path
) -> None:
    settings, log = db_settings, tmp_path / "executor.log"
    assert settings.database_url
    buy = order("acme", quantity="10")
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        child = spawn(ARGS, settings, log=log)
        try:
            await bus.publish(buy)
            await eventually(lambda: buy.id in alpaca.state.orders and alpaca.connections >= 1, timeout=30)
            alpaca.state.fill(buy.id, 10, "20")
            await eventually(lambda: count(nc, settings, 2), timeout=20)
            refused = await ingenium(settings, "order", "cancel", buy.id, "--wait", "30")
            assert refused.returncode == 1, refused.stderr + tail(log)
            assert 'cancel_rejected (filled 10): order is already in "filled" state (HTTP 422)' in refused.stdout
            [request] = [m for m in await stream_messages(nc, settings, "order")
                         if m.subject == settings.subjects.cancel]
            await nc.jetstream().publish(settings.subjects.cancel, request.data or b"", headers={MSG_ID: "again"})
            await loop.settle([AlpacaExecutor(name="alpaca")], within=60)
        finally:
            await stop(child, log)

    stored = await executions(nc, settings)
    assert [e.update for e in stored] == [ExecutionUpdate.ACCEPTED, ExecutionUpdate.FILLED,
                                          ExecutionUpdate.CANCEL_REJECTED], tail(log)
    assert alpaca.state.cancel_requests == 1  # the copy was answered from the executor's record
    [ledger_order] = await queries.orders(settings.database_url)
    assert (ledger_order.status, ledger_order.filled_quantity) == ("filled", Decimal(10))
    [row] = await queries.cancels(settings.database_url)
    assert (row.status, row.outcome_reason) == ("rejected", 'order is already in "filled" state (HTTP 422)')


async def test_an_order_that_fills_before_the_cancel_takes_effect_answers_it_cancel_rejected(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca
) -> None:
    """Alpaca accepts a cancel as pending_cancel; the order may still fill before it is canceled."""
    settings = db_settings
    assert settings.database_url
    alpaca.state.slow_cancels = True
    buy = order("acme", quantity="10", order_type=OrderType.LIMIT, limit_price="20")
    request = cancel(buy, reason="enough")
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await bus.publish(buy)
        await eventually(lambda: buy.id in alpaca.state.orders and alpaca.connections >= 1, timeout=30)
        await bus.publish(request)
        await eventually(lambda: alpaca.state.orders[buy.id].status == "pending_cancel", timeout=20)
        alpaca.state.fill(buy.id, 10, "19.9")  # the market got there first
        await eventually(lambda: count(nc, settings, 3), timeout=20)
        await loop.settle([executor])
    stored = await executions(nc, settings)
    assert [(e.update, e.cum_quantity, e.cancel_id) for e in stored] == [
        (ExecutionUpdate.ACCEPTED, 0, None), (ExecutionUpdate.FILLED, 10, None),
        (ExecutionUpdate.CANCEL_REJECTED, 10, request.id)]
    assert stored[2].reason == f"order {buy.id} was filled before the cancel took effect"
    [row] = await queries.cancels(settings.database_url)
    assert (row.status, row.outcome_reason) == ("rejected", stored[2].reason)
    [ledger_order] = await queries.orders(settings.database_url)
    assert ledger_order.status == "filled"
