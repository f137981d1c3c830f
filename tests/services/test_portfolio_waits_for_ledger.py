"""A portfolio started before the ledger's tables exist waits for them (and still stops on SIGTERM)."""

from __future__ import annotations

import asyncio
import signal as signals
import subprocess
import sys
from pathlib import Path

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import OrderEvent, SignalType
from ingenium.testing import eventually, settings_env, signal, spawn, stream_events
from tests.services.live import fresh

ARGS = ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "pf", "-p", "quantity=10"]
WAITING = "the database has no ledger tables yet; waiting for `ingenium ledger migrate`"


def logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


async def test_portfolio_waits_for_the_migration_then_trades(
    db_settings: Settings, nc: Client, bus: JetStreamBus, tmp_path: Path
) -> None:
    # Stopped while it waits: a clean exit, as in any other state.
    log = tmp_path / "first.log"
    child = spawn(ARGS, db_settings, log=log)
    try:
        await eventually(lambda: logged(log, WAITING), timeout=60)
    finally:
        child.send_signal(signals.SIGTERM)
    assert child.wait(20) == 0, log.read_text()

    log = tmp_path / "portfolio.log"
    child = spawn(ARGS, db_settings, log=log)
    try:
        await eventually(lambda: logged(log, WAITING), timeout=60)
        assert child.poll() is None, log.read_text()
        migrate = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "ingenium", "ledger", "migrate"], env=settings_env(db_settings),
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        await eventually(lambda: logged(log, "pf: recovered"), timeout=60)
        assert log.read_text().count(WAITING) == 1  # one line, however many checks it took
        await bus.publish(fresh(signal("acme", SignalType.LONG, price="100", event_id="sig-1")))
        orders = await eventually(lambda: _orders(nc, db_settings), timeout=90)
    finally:
        child.send_signal(signals.SIGTERM)
        code = child.wait(20)
    assert code == 0, log.read_text()
    assert isinstance(orders, list) and [(o.signal_id, o.quantity) for o in orders] == [("sig-1", 10)]


async def _orders(nc: Client, settings: Settings) -> list[OrderEvent] | None:
    orders = [e for e in await stream_events(nc, settings, "order") if isinstance(e, OrderEvent)]
    return orders or None
