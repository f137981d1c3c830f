"""The read-only role: ``ingenium_reader`` reads every ledger table and writes none; the CLI queries through it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from ingenium.config import Settings
from ingenium.testing import settings_env
from ledger.database import MIGRATION_LOCK
from ledger.roles import READER, ensure_reader
from tests.ledger.support import hide_from_reader
from tests.ledger.test_cli import cli

WRITES = [
    "INSERT INTO ledger_cash (account, starting_balance, balance, commissions, fills) VALUES ('x', 1, 1, 0, 0)",
    "UPDATE ledger_cash SET balance = balance + 1000000",
    "DELETE FROM ledger_positions",
    "TRUNCATE ledger_orders",
    "DELETE FROM ledger_checkpoints",
]


async def test_the_reader_reads_but_every_write_is_refused(ledger_settings: Settings) -> None:
    assert ledger_settings.database_url
    admin = await asyncpg.connect(ledger_settings.database_url)
    try:
        await admin.execute("INSERT INTO ledger_cash (account, starting_balance, balance, commissions, fills) "
                            "VALUES ('main', 100, 100, 0, 0)")
    finally:
        await admin.close()
    url = await ensure_reader(ledger_settings.database_url)
    assert url is not None
    reader = await asyncpg.connect(url)
    try:
        assert await reader.fetchval("SELECT current_user") == READER
        assert await reader.fetchval("SELECT balance FROM ledger_cash WHERE account = 'main'") == 100
        for table in ("ledger_orders", "ledger_fills", "ledger_positions", "ledger_checkpoints"):
            await reader.fetch(f"SELECT * FROM {table}")
        for statement in WRITES:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute(statement)
    finally:
        await reader.close()
    admin = await asyncpg.connect(ledger_settings.database_url)
    try:
        assert await admin.fetchval("SELECT balance FROM ledger_cash WHERE account = 'main'") == 100
        assert await admin.fetchval("SELECT count(*) FROM ledger_cash") == 1
    finally:
        await admin.close()


async def test_the_cli_queries_read_as_the_reader(ledger_settings: Settings, tmp_path: Path) -> None:
    assert ledger_settings.database_url
    await hide_from_reader(ledger_settings.database_url, "ledger_positions",
                           "INSERT INTO ledger_positions (symbol, quantity, average_price, cost_basis, realized_pnl, "
                           "commissions, fills, updated_at) VALUES ('aapl', 3, 10, 30, 0, 0, 1, now())")
    result = await cli("ledger", "positions", "--format", "json", env=settings_env(ledger_settings), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


async def test_a_grant_made_while_a_migration_runs_covers_the_tables_it_creates(db_settings: Settings) -> None:
    """A portfolio may make the role while `ledger serve` migrates: its tables must still be readable after."""
    assert db_settings.database_url
    migrating = await asyncpg.connect(db_settings.database_url)
    try:
        transaction = migrating.transaction()
        await transaction.start()
        await migrating.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)  # as migrations/env.py does
        await migrating.execute("CREATE TABLE ledger_made_mid_grant (x int)")
        granting = asyncio.create_task(ensure_reader(db_settings.database_url))
        await asyncio.sleep(0.5)
        assert not granting.done()  # it waits for the migration instead of granting on what it cannot see yet
        await migrating.execute("INSERT INTO ledger_made_mid_grant VALUES (7)")
        await transaction.commit()
        url = await asyncio.wait_for(granting, 30)
    finally:
        await migrating.close()
    assert url is not None
    reader = await asyncpg.connect(url)
    try:
        assert await reader.fetchval("SELECT x FROM ledger_made_mid_grant") == 7
    finally:
        await reader.close()
