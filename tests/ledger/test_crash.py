"""SIGKILL the projector (a real ``python -m ingenium ledger serve`` process) at several points of a long run,
mid-transaction included; after a restart the tables equal those of one clean run, byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import eventually, spawn
from ledger.database import APPLICATION_NAME
from ledger.rebuild import dump_database
from tests.ledger.support import caught_up, checkpoints, messy_run, project, publish_actions, stream_ends


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


async def progressed(settings: Settings, nc: Client, share: float) -> bool:
    assert settings.database_url
    ends, done = await stream_ends(nc, settings), await checkpoints(settings.database_url)
    return sum(done.values()) >= share * sum(ends.values())


async def blocked_in_transaction(admin: asyncpg.Connection) -> bool:
    """Whether the projector's backend has written in its transaction and now waits for our row lock."""
    return bool(await admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 "
        "AND backend_xid IS NOT NULL AND wait_event_type = 'Lock'", APPLICATION_NAME))


async def holds_the_lock(admin: asyncpg.Connection) -> bool:
    return bool(await admin.fetchval(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
        "AND l.granted AND a.application_name = $1 AND a.datname = current_database()", APPLICATION_NAME))


async def kill_mid_transaction(
    process: subprocess.Popen[bytes], admin: asyncpg.Connection, watcher: asyncpg.Connection, stream: str
) -> None:
    """Hold the stream's checkpoint row so the projector's next batch blocks after writing, then SIGKILL it.

    ``watcher`` polls pg_stat_activity outside ``admin``'s transaction, which would see one frozen snapshot.
    """
    transaction = admin.transaction()
    await transaction.start()
    try:
        await admin.execute("SELECT * FROM ledger_checkpoints WHERE stream = $1 FOR UPDATE", stream)
        await eventually(lambda: blocked_in_transaction(watcher), timeout=60, interval=0.01)
        kill(process)
    finally:
        await transaction.rollback()


@pytest.mark.timeout(240)
async def test_sigkill_at_several_points_ends_as_one_clean_run(
    bus: JetStreamBus, nc: Client, ledger_settings: Settings, reference_settings: Settings,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = ledger_settings.database_url
    assert url
    # Small batches: many transactions to land in.
    monkeypatch.setenv("INGENIUM_LEDGER_BATCH_SIZE", "20")
    monkeypatch.setenv("INGENIUM_LEDGER_MAX_BATCH", "40")
    log = tmp_path / "ledger.log"
    actions = messy_run(seed=11, orders=500)
    parts = [actions[: len(actions) // 4], actions[len(actions) // 4: len(actions) // 2],
             actions[len(actions) // 2: 3 * len(actions) // 4], actions[3 * len(actions) // 4:]]
    admin, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    spawned: list[subprocess.Popen[bytes]] = []

    def serve() -> subprocess.Popen[bytes]:
        spawned.append(spawn(["ledger", "serve"], ledger_settings, log=log))
        return spawned[-1]

    try:
        # 1. Killed somewhere while projecting the first part.
        await publish_actions(bus, nc, ledger_settings, parts[0])
        process = serve()
        await eventually(lambda: progressed(ledger_settings, nc, 0.3), timeout=60)
        kill(process)
        # 2. Killed mid-transaction on the execution stream, while the second part is still being published.
        process = serve()
        await publish_actions(bus, nc, ledger_settings, parts[1])
        await kill_mid_transaction(process, admin, watcher, ledger_settings.subjects.stream("execution"))
        # 3. Killed as soon as it holds the lock, before its first batch could commit.
        await publish_actions(bus, nc, ledger_settings, parts[2])
        process = serve()
        await eventually(lambda: holds_the_lock(watcher), timeout=60, interval=0.005)
        kill(process)
        # 4. Killed mid-transaction on the order stream.
        await publish_actions(bus, nc, ledger_settings, parts[3])
        process = serve()
        await kill_mid_transaction(process, admin, watcher, ledger_settings.subjects.stream("order"))
        # 5. A last run catches up and stops cleanly on SIGTERM.
        process = serve()
        await eventually(lambda: caught_up(nc, ledger_settings), timeout=90, interval=0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, log.read_text()[-3000:]
    finally:
        for leftover in spawned:
            if leftover.poll() is None:
                kill(leftover)
        await admin.close()
        await watcher.close()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

    await project(nc, reference_settings)
    assert reference_settings.database_url
    assert await dump_database(url) == await dump_database(reference_settings.database_url)
