"""The advisory lock that lets one projector write at a time; the others wait as hot standbys."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

#: Session-level advisory lock key held by the writing projector (and by a rebuild).
PROJECTOR_LOCK = 0x1E_D6E2_0002


async def try_lock(conn: asyncpg.Connection) -> bool:
    """Take the projector lock on this connection's session if it is free."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", PROJECTOR_LOCK)
    return taken


async def wait_for_lock(conn: asyncpg.Connection, stop: asyncio.Event, poll_seconds: float) -> bool:
    """Take the lock, polling until it is free; ``False`` if ``stop`` was set first."""
    while not stop.is_set():
        if await try_lock(conn):
            return True
        await pause(stop, poll_seconds)
    return False


async def holder_pid(conn: asyncpg.Connection) -> int | None:
    """Backend pid of the session that holds the projector lock, if any."""
    pid: int | None = await conn.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND ((classid::bigint << 32) | objid::bigint) = $1 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        PROJECTOR_LOCK,
    )
    return pid


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, or less if ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):  # not wait_for, which can swallow a cancellation on 3.11
            await stop.wait()
