"""The alembic migrations create exactly the tables the models describe, from any working directory."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, pool

from ingenium.config import Settings
from ledger.database import sqlalchemy_url
from ledger.migrate import VERSION_TABLE, alembic_config, current, head, upgrade
from ledger.runs import RUN_TABLES
from ledger.tables import TABLE_NAMES, VENUE_TABLE_NAMES, SQLModel


def _ledger_only(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # As migrations/env.py: the runs tables (migration 0003) have no SQLModel class; compare the ledger's.
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table is None or table.startswith("ledger_")


def differences(url: str) -> list[object]:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": VERSION_TABLE, "include_object": _ledger_only}
            )
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrations_match_the_models_and_upgrade_is_idempotent(db_settings: Settings) -> None:
    url = db_settings.database_url
    assert url
    assert await asyncio.to_thread(current, url) is None
    assert await asyncio.to_thread(upgrade, url) == head()
    assert await asyncio.to_thread(differences, url) == []
    assert await asyncio.to_thread(upgrade, url) == head()
    assert set(TABLE_NAMES) | set(VENUE_TABLE_NAMES) | set(RUN_TABLES) | {VERSION_TABLE} == await tables(url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    assert await tables(url) == {VERSION_TABLE}


async def test_processes_migrating_at_once_take_turns(db_settings: Settings, tmp_path: Path) -> None:
    """As when `ingenium up` and `ingenium ledger serve` start together (each from its own directory)."""
    url = db_settings.database_url
    assert url
    code = "import sys; from ledger.migrate import upgrade; print(upgrade(sys.argv[1]))"
    processes = []
    for i in range(3):
        (tmp_path / str(i)).mkdir()
        processes.append(await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, cwd=tmp_path / str(i),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE))
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [err.decode()[-500:] for _, err in outputs]
    assert [out.decode().strip() for out, _ in outputs] == [head()] * 3
    assert await asyncio.to_thread(differences, url) == []
