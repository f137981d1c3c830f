"""Fixtures of the ledger tests: a migrated database, and a second one for a clean reference run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from ingenium.config import Settings
from ingenium.testing import with_database
from ledger.migrate import upgrade


@pytest_asyncio.fixture
async def ledger_settings(db_settings: Settings) -> Settings:
    """``db_settings`` with the ledger's tables migrated."""
    assert db_settings.database_url
    await asyncio.to_thread(upgrade, db_settings.database_url)
    return db_settings


@pytest_asyncio.fixture
async def reference_settings(ledger_settings: Settings, postgres_server: str) -> AsyncIterator[Settings]:
    """The same streams, projected into a second, freshly migrated database (a clean reference run)."""
    name = f"ingenium_ref_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(postgres_server, name)
    await asyncio.to_thread(upgrade, url)
    yield ledger_settings.model_copy(update={"database_url": url})
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
