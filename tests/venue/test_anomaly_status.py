"""``ingenium status`` shows the position anomalies a venue executor recorded (``ledger_position_anomalies``).

The anomaly comes from the real path: a trade at the fake Alpaca that Ingenium never asked for, found by the
AlpacaExecutor's reconciliation; the status is the real command in a child process.
"""

from __future__ import annotations

import asyncio
import json

from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import eventually, settings_env
from ledger import queries
from services.executor.alpaca import AlpacaExecutor
from tests.core.test_cli import cli
from tests.services.live import running
from tests.venue.server import FakeAlpaca


async def test_status_lists_the_latest_position_anomaly_per_venue_and_symbol(
    db_settings: Settings, nc: Client, bus: JetStreamBus, alpaca: FakeAlpaca
) -> None:
    settings = db_settings
    assert settings.database_url
    url = settings.database_url
    async with running(settings, nc) as loop:
        await loop.start_ledger()
        executor = AlpacaExecutor(name="alpaca")
        await loop.start(executor)
        await eventually(lambda: alpaca.connections >= 1)
        alpaca.state.place({"symbol": "GLOBEX", "qty": "5", "side": "buy", "client_order_id": "manual-1"})
        alpaca.state.fill("manual-1", 5, "30")
        await executor.reconcile()
        await eventually(lambda: queries.position_anomalies(url), timeout=30)
        await loop.settle([executor])

    env = settings_env(settings)
    report = await asyncio.to_thread(cli, "status", "--json", env=env)
    assert report.returncode == 0, report.stderr
    [anomaly] = json.loads(report.stdout)["position_anomalies"]
    assert {k: anomaly[k] for k in ("venue", "symbol", "venue_quantity", "ledger_quantity")} == {
        "venue": "alpaca", "symbol": "GLOBEX", "venue_quantity": "5", "ledger_quantity": "0"}
    assert anomaly["detected_at"].endswith("+00:00")

    tables = await asyncio.to_thread(cli, "status", env=env)
    assert tables.returncode == 0, tables.stderr
    section = tables.stdout.split("position anomalies", 1)[1].split("components", 1)[0]
    assert "GLOBEX" in section and "alpaca" in section
