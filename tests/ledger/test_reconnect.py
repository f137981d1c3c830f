"""The projector survives its servers going away: a NATS restart and a lost PostgreSQL connection."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.events import Side
from ingenium.streams import ensure_streams
from ingenium.testing import eventually, fill, order
from ledger import queries
from ledger.database import APPLICATION_NAME
from tests.ledger.support import running, wait_caught_up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def position(settings: Settings) -> object:
    assert settings.database_url
    return [p.quantity for p in await queries.positions(settings.database_url)]


async def test_a_nats_restart_resumes_from_the_checkpoint(ledger_settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedNats(tmp_path / "own-nats", port=port)
    url = server.start()
    settings = ledger_settings.model_copy(update={"nats_url": url})
    try:
        nc: Client = await connect_nats(settings, name="publisher")
        await ensure_streams(nc.jetstream(), settings)
        bus = JetStreamBus(nc, settings.subjects)
        first = order("aapl", Side.BUY, "2")
        await bus.publish_many([first, fill(first, "2", "10")])
        async with running(settings) as run:
            await wait_caught_up(nc, settings)
            server.stop()
            # Same port, same store: the streams survive, the ledger's consumers do not.
            server = EmbeddedNats(tmp_path / "own-nats", port=port)
            server.start()
            second = order("aapl", Side.BUY, "3")
            await eventually(lambda: _publish(bus, [second, fill(second, "3", "11")]), timeout=30)
            await wait_caught_up(nc, settings, within=60)
            assert run.projector.active.is_set()
        assert await position(settings) == [5]
        await nc.drain()
    finally:
        server.stop()


async def _publish(bus: JetStreamBus, events: list[object]) -> bool:
    try:
        await bus.publish_many(events)  # type: ignore[arg-type]
    except Exception:  # the client is still reconnecting: try again
        return False
    return True


async def test_a_lost_database_connection_is_reopened(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings
) -> None:
    assert ledger_settings.database_url
    first = order("msft", Side.SELL, "1")
    await bus.publish_many([first, fill(first, "1", "10")])
    admin = await asyncpg.connect(ledger_settings.database_url)
    try:
        async with running(ledger_settings) as run:
            await wait_caught_up(nc, ledger_settings)
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1 AND datname = current_database()", APPLICATION_NAME)
            assert killed == 1
            second = order("msft", Side.SELL, "2")
            await bus.publish_many([second, fill(second, "2", "9")])
            await wait_caught_up(nc, ledger_settings)
            await eventually(run.projector.active.is_set)
    finally:
        await admin.close()
    assert await position(ledger_settings) == [-3]
