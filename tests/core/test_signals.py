"""Ctrl-C is a clean stop everywhere, and components say in one line when they start and when they stop.

Each command runs as a real child process against this test's NATS and PostgreSQL and gets SIGINT (what Ctrl-C
sends) while it works.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.testing import bar, eventually, spawn


def text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def started(child: subprocess.Popen[bytes], log: Path, line: str) -> None:
    """Wait until ``line`` is in the child's output (failing at once, with the output, if it exited)."""

    def seen() -> bool:
        assert child.poll() is None, f"exited {child.returncode} before {line!r}:\n{text(log)}"
        return line in text(log)

    await eventually(seen, timeout=180, interval=0.1)


async def interrupt(child: subprocess.Popen[bytes], log: Path) -> str:
    child.send_signal(signal.SIGINT)
    code = await asyncio.to_thread(child.wait, 120)
    output = text(log)
    assert code == 0, f"exit {code} after Ctrl-C:\n{output}"
    assert "Traceback" not in output, output
    return output


@pytest.mark.timeout(600)
async def test_ctrl_c_exits_zero_and_components_print_start_and_stop_lines(
    bus: JetStreamBus, db_settings: Settings, tmp_path: Path
) -> None:
    record = tmp_path / "handled.txt"
    await bus.publish_many([bar("acme", 100 + i, minutes=60 * i) for i in range(3)])
    logs = {name: tmp_path / f"{name}.log" for name in ("run", "ledger", "feed", "replay")}
    children = {
        "run": spawn(["run", "tests.core.components:Echo", "--name", "echo", "-p", f"record={record}"], db_settings,
                     log=logs["run"]),
        "ledger": spawn(["ledger", "serve"], db_settings, log=logs["ledger"]),
        "feed": spawn(["ingest", "synthetic", "--symbols", "zed", "--speed", "1"], db_settings, log=logs["feed"]),
        # One bar an hour at real speed: it is still waiting for the second bar when Ctrl-C comes.
        "replay": spawn(["replay", "-s", "services.strategies:SmaCross", "--symbols", "acme", "--speed", "1",
                         "--out", str(tmp_path / "replay")], db_settings, log=logs["replay"]),
    }
    try:
        streams = db_settings.subjects.stream
        await started(children["run"], logs["run"], f"strategy echo started: consumes {streams('data')} as consumer "
                      "echo-data")
        await eventually(lambda: record.exists() and len(record.read_text().splitlines()) == 3, timeout=60)
        await started(children["ledger"], logs["ledger"], "ledger: projecting")
        await started(children["feed"], logs["feed"], "ingestor synthetic_feed started")
        await started(children["replay"], logs["replay"], f"replaying {streams('data')}[acme]")

        run = await interrupt(children["run"], logs["run"])
        assert "strategy echo stopped: 3 messages handled, 0 dead-lettered" in run
        ledger = await interrupt(children["ledger"], logs["ledger"])
        assert f"ledger: stopped; checkpoints {streams('order')} at 0" in ledger
        assert "alembic" not in ledger  # its INFO lines only with --verbose
        feed = await interrupt(children["feed"], logs["feed"])
        assert "ingestor synthetic_feed stopped" in feed
        replay = await interrupt(children["replay"], logs["replay"])
        assert "stopped (Ctrl-C)" in replay
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.mark.timeout(600)
async def test_ctrl_c_stops_the_demo_cleanly(nc: Client, db_settings: Settings, tmp_path: Path,
                                             postgres_server: str) -> None:
    log = tmp_path / "demo.log"
    js = nc.jetstream()
    try:  # a shared server may hold an earlier demo's stream, until this demo resets it
        earlier = (await js.stream_info("DEMO_INGENIUM_DATA")).created
    except NotFoundError:
        earlier = None
    child = spawn(["demo"], db_settings, log=log)

    async def demo_running() -> bool:
        assert child.poll() is None, text(log)
        try:
            info = await js.stream_info("DEMO_INGENIUM_DATA")
        except NotFoundError:
            return False
        return info.created != earlier and info.state.messages > 0

    try:
        await eventually(demo_running, timeout=300, interval=0.2)  # bars are flowing through the loop
        await interrupt(child, log)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        admin = await asyncpg.connect(postgres_server)
        try:
            await admin.execute('DROP DATABASE IF EXISTS "ingenium_demo" WITH (FORCE)')
        finally:
            await admin.close()
