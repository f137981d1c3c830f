"""The read-only role viewers use: ``ingenium_reader`` may read the ledger's and the runs' tables, nothing more."""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from ledger.database import MIGRATION_LOCK, connect

log = logging.getLogger("ingenium.ledger.roles")

READER = "ingenium_reader"


def reader_password(admin_url: str) -> str:
    """A password derived from the admin URL: stable across restarts and processes, unknowable without it."""
    return hashlib.sha256(f"{READER}:{admin_url}".encode()).hexdigest()[:32]


def reader_url(admin_url: str) -> str:
    """``admin_url`` with the reader's credentials instead of the admin's."""
    parts = urlsplit(admin_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{READER}:{quote(reader_password(admin_url))}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def ensure_reader(admin_url: str) -> str | None:
    """Create (or refresh) the read-only role and grant it SELECT; its URL, or ``None`` if the admin may not."""
    conn = await connect(admin_url, application_name="ingenium-roles")
    password = reader_password(admin_url)
    try:
        database = await conn.fetchval("SELECT current_database()")
        try:
            async with conn.transaction():
                # Not while a migration runs: a table it created but has not committed would get neither the
                # grant on all tables (not visible yet) nor the default privileges (set after its CREATE).
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                # Two databases on one server may create it at once; the loser's duplicate_object is harmless.
                await conn.execute(
                    f"DO $$ BEGIN CREATE ROLE {READER} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                )
                await conn.execute(
                    f"ALTER ROLE {READER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'"
                )
                await conn.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {READER}')
                await conn.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
                await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")
                await conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READER}")
        except asyncpg.InsufficientPrivilegeError as exc:
            log.warning("cannot create the read-only role %s (%s); reading with the configured user", READER, exc)
            return None
    finally:
        await conn.close()
    return reader_url(admin_url)
