"""The portfolio's recovery reads the ledger as the read-only role ``ingenium_reader``, never as its writer."""

from __future__ import annotations

import asyncio
import signal as signals
from pathlib import Path

from ingenium.config import Settings
from ingenium.testing import eventually, spawn
from ledger.migrate import upgrade
from tests.ledger.support import hide_from_reader

ARGS = ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "pf", "-p", "quantity=10"]


async def test_recovery_reads_the_ledger_as_the_reader(db_settings: Settings, tmp_path: Path) -> None:
    assert db_settings.database_url
    await asyncio.to_thread(upgrade, db_settings.database_url)
    # A cash row the reader alone cannot see: recovered as the writer, the book would start with it.
    await hide_from_reader(db_settings.database_url, "ledger_cash",
                           "INSERT INTO ledger_cash (account, starting_balance, balance, commissions, fills) "
                           "VALUES ('main', 12345, 12345, 0, 0)")
    log = tmp_path / "portfolio.log"
    child = spawn(ARGS, db_settings, log=log)
    try:
        await eventually(lambda: "pf: recovered" in log.read_text(), timeout=90)
    finally:
        child.send_signal(signals.SIGTERM)
    assert child.wait(30) == 0, log.read_text()
    recovered = next(line for line in log.read_text().splitlines() if "pf: recovered" in line)
    assert "12345" not in recovered, recovered
