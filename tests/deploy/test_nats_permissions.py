"""deploy/helm/nats-values.yaml on a real nats-server: each component runs the loop with only its own user's rights.

The server gets the users and permissions of the values file exactly as the official NATS chart renders them.
The real commands the chart runs (`ingenium streams init`, `ingenium ledger serve`, `ingenium run …`,
`ingenium ingest file`) each connect as their component's user, and the trading loop must reach the ledger
with no permission violation. Then each user is tried on what it must not do.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig
from nats.js.errors import Error as JetStreamError

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.deadletter import dead_letter
from ingenium.permissions import KINDS, accounts, permissions
from ingenium.testing import eventually, settings_env, spawn, with_database
from services.data import SAMPLE_FILE
from services.web import streams
from tests.deploy.natsconf import SecuredNats, nats_values, start_secured_nats, users
from tests.reply_injection import pull_into_the_order_subject

pytestmark = pytest.mark.deploy

COMPONENT_USERS = {"provisioner", "ingestor", "strategy", "portfolio", "executor", "ledger", "web"}
#: What the chart's provisioning Job runs for its components (components consume only what it made).
PROVISION = ["streams", "init", "--component", "sma_cross=services.strategies.sma_cross:SmaCross",
             "--component", "portfolio=services.portfolio.portfolio:RiskPortfolio",
             "--component", "paper_executor=services.executor.paper:PaperExecutor"]


@pytest.fixture
def namespace() -> str:
    """The real subject names, which the users are granted: the secured server is this test's own."""
    return ""


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[SecuredNats]:
    server = start_secured_nats(tmp_path / "secured-nats")
    yield server
    server.stop()


def test_the_values_users_are_the_library_permission_table() -> None:
    assert set(users()) == COMPONENT_USERS == set(KINDS)
    assert nats_values()["config"]["merge"]["accounts"] == accounts(list(users().values()))
    for kind in KINDS:
        assert users()[kind]["permissions"] == permissions(kind).server_config(), (
            f"user {kind} of nats-values.yaml differs from ingenium/permissions.py: regenerate it from the table")
        allowed = users()[kind]["permissions"]["publish"]["allow"]
        if kind != "provisioner":
            admin = tuple(f"$JS.API.STREAM.{verb}" for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE"))
            assert "$JS.API.>" not in allowed and not any(s.startswith(admin) for s in allowed), kind
            # Components bind to the durables provisioning made and read ranges by direct get (issue #14).
            consumers = ("$JS.API.CONSUMER.CREATE", "$JS.API.CONSUMER.DURABLE.CREATE", "$JS.API.CONSUMER.DELETE")
            assert not any(s.startswith(consumers) for s in allowed), kind


def run_cli(args: list[str], settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ingenium", *args], env=settings_env(settings),
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.timeout(600)  # five real processes and ~500 fsynced bars: a minute quiet, a few on a busy machine
async def test_the_trading_loop_runs_and_the_ledger_restores_with_each_component_as_its_own_user(
    secured: SecuredNats, settings: Settings, database_url: str, postgres_server: str, tmp_path: Path
) -> None:
    base = settings.model_copy(update={"database_url": database_url})
    init = await asyncio.to_thread(run_cli, PROVISION, secured.settings(base, "provisioner"))
    assert init.returncode == 0, init.stderr
    assert "created INGENIUM_ORDERS" in init.stdout and "created consumer sma_cross-data" in init.stdout
    # The chart runs this as an init container of every component with a database (it needs no NATS).
    migrate = await asyncio.to_thread(run_cli, ["ledger", "migrate"], base)
    assert migrate.returncode == 0, migrate.stderr

    components = {
        "ledger": ["ledger", "serve"],
        "strategy": ["run", "services.strategies.sma_cross:SmaCross", "--name", "sma_cross", "-p", "fast=5",
                     "-p", "slow=20"],
        "portfolio": ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "portfolio",
                      "-p", "sizing=notional", "-p", "notional=5000"],
        "executor": ["run", "services.executor.paper:PaperExecutor", "--name", "paper_executor"],
    }
    logs = {user: tmp_path / f"{user}.log" for user in components}
    processes = {user: spawn(args, secured.settings(base, user), log=logs[user]) for user, args in components.items()}
    try:
        # The first two hours of the sample day: enough crossings for orders, few enough fsyncs (sync: always).
        bars = tmp_path / "bars.csv"
        bars.write_text("".join(SAMPLE_FILE.read_text().splitlines(keepends=True)[: 1 + 4 * 120]))
        ingest = await asyncio.to_thread(run_cli, ["ingest", "file", str(bars)], secured.settings(base, "ingestor"))
        assert ingest.returncode == 0, ingest.stderr

        async def filled_orders() -> int:
            for user, process in processes.items():
                assert process.poll() is None, f"{user} exited: {logs[user].read_text()[-2000:]}"
            conn = await asyncpg.connect(database_url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM ledger_orders WHERE status = 'filled'") or 0)
            except asyncpg.UndefinedTableError:
                return 0
            finally:
                await conn.close()

        await eventually(lambda: filled_orders_at_least(filled_orders, 2), timeout=90, interval=0.5)
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {user: process.wait(timeout=30) for user, process in processes.items()}
    assert codes == dict.fromkeys(components, 0), {u: logs[u].read_text()[-2000:] for u, c in codes.items() if c}

    # Restore (docs/deploy.md): a new, empty database rebuilt from the streams, as the ledger's user.
    name = f"restored_{uuid.uuid4().hex[:12]}"
    restored = with_database(postgres_server, name)
    await admin_sql(postgres_server, f'CREATE DATABASE "{name}"')
    try:
        target = secured.settings(base.model_copy(update={"database_url": restored}), "ledger")
        for args in (["ledger", "migrate"], ["ledger", "rebuild", "--source", "streams"]):
            result = await asyncio.to_thread(run_cli, args, target)
            assert result.returncode == 0, f"{args}: {result.stderr}"
        assert await ledger_tables(restored) == await ledger_tables(database_url)
    finally:
        await admin_sql(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert secured.violations() == []


async def admin_sql(server: str, sql: str) -> None:
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def ledger_tables(url: str) -> dict[str, list[tuple[object, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        return {table: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]
                for table in ("ledger_orders", "ledger_fills", "ledger_positions", "ledger_cash")}
    finally:
        await conn.close()


async def filled_orders_at_least(count: Callable[[], Awaitable[int]], wanted: int) -> bool:
    return await count() >= wanted


async def connect_as(secured: SecuredNats, settings: Settings, user: str) -> Client:
    return await connect_nats(secured.settings(settings, user), name=f"test-{user}")


async def refused(action: Awaitable[object]) -> bool:
    """True when the server refused: a denied publish is dropped, so a request gets no answer."""
    try:
        await action
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError, JetStreamError):
        return True
    return False


def api(nc: Client) -> JetStreamContext:
    return nc.jetstream(timeout=1.0)


FORBIDDEN: dict[str, Callable[[JetStreamContext], Awaitable[object]]] = {
    "strategy publishes an order": lambda js: js.publish("ingenium.portfolio.order", b"{}"),
    "strategy deletes the order stream": lambda js: js.delete_stream("INGENIUM_ORDERS"),
    "strategy reads the order stream": lambda js: js.add_consumer("INGENIUM_ORDERS", ConsumerConfig(name="peek")),
    "strategy creates a stream": lambda js: js.add_stream(StreamConfig(name="SIDE", subjects=["side.>"])),
    "ingestor publishes a signal": lambda js: js.publish("ingenium.strategy.signal", b"{}"),
    "portfolio publishes an execution": lambda js: js.publish("ingenium.executor.execution", b"{}"),
    "executor publishes an order": lambda js: js.publish("ingenium.portfolio.order", b"{}"),
    "executor purges the execution stream": lambda js: js.purge_stream("INGENIUM_EXECUTIONS"),
    "ledger publishes an execution": lambda js: js.publish("ingenium.executor.execution", b"{}"),
    "ledger reads the signal stream": lambda js: js.add_consumer("INGENIUM_SIGNALS", ConsumerConfig(name="peek")),
    "ledger reads the signal stream by direct get": lambda js: js.get_msg("INGENIUM_SIGNALS", 1, direct=True),
    "ledger creates a reader of the order stream": lambda js: js.add_consumer(
        "INGENIUM_ORDERS", ConsumerConfig(name="reader", filter_subject="ingenium.portfolio.order")),
    "portfolio creates a reader of the signal stream": lambda js: js.add_consumer(
        "INGENIUM_SIGNALS", ConsumerConfig(name="reader")),
    "portfolio deletes its signal consumer": lambda js: js.delete_consumer("INGENIUM_SIGNALS", "portfolio-signal"),
    "web publishes data": lambda js: js.publish("ingenium.ingestor.data.aapl", b"{}"),
    "web deletes a consumer": lambda js: js.delete_consumer("INGENIUM_DATA", "sma_cross-data"),
}


async def test_each_user_is_refused_what_its_component_must_not_do(
    secured: SecuredNats, settings: Settings
) -> None:
    admin = await connect_as(secured, settings, "provisioner")
    try:
        init = await asyncio.to_thread(run_cli, PROVISION, secured.settings(settings, "provisioner"))
        assert init.returncode == 0, init.stderr
        for what, action in FORBIDDEN.items():
            user = what.split()[0]
            before = len(secured.violations(user))
            nc = await connect_as(secured, settings, user)
            try:
                assert await refused(action(api(nc))), f"allowed: {what}"
            finally:
                await nc.close()
            # Refused by its permissions, not by some other error: the server logged the violation.
            await eventually(lambda u=user, n=before: len(secured.violations(u)) > n, timeout=5)  # type: ignore[misc]
        js = admin.jetstream()
        for stream in ("INGENIUM_ORDERS", "INGENIUM_EXECUTIONS", "INGENIUM_SIGNALS", "INGENIUM_DATA"):
            assert (await js.stream_info(stream)).state.messages == 0, stream
        assert await js.streams_info() and "SIDE" not in {s.config.name for s in await js.streams_info()}
    finally:
        await admin.close()


async def test_a_pull_whose_reply_names_the_order_subject_places_no_order(
    secured: SecuredNats, settings: Settings
) -> None:
    async with provisioned_as(secured, settings, "provisioner", "strategy") as (admin, strategy):
        assert await pull_into_the_order_subject(admin, strategy) == 0


@contextlib.asynccontextmanager
async def provisioned_as(secured: SecuredNats, settings: Settings, *users: str) -> AsyncIterator[list[Client]]:
    """The chart's provisioning done; one connection per user, closed afterwards."""
    init = await asyncio.to_thread(run_cli, PROVISION, secured.settings(settings, "provisioner"))
    assert init.returncode == 0, init.stderr
    clients = [await connect_as(secured, settings, user) for user in users]
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


async def test_the_web_users_republish_of_a_dead_letter_is_refused_in_one_line_saying_what_to_do(
    secured: SecuredNats, settings: Settings
) -> None:
    # Any component may dead-letter: the ledger's user writes one of a bar.
    async with provisioned_as(secured, settings, "provisioner", "ledger", "web") as (admin, ledger, web):
        await dead_letter(ledger.jetstream(), settings.subjects, component="test", reason="bad bar", payload=b"{}",
                          subject="ingenium.ingestor.data.acme", stream="INGENIUM_DATA", sequence=1)
        [letter] = await streams.dead_letters(web, settings, limit=10)
        with pytest.raises(PermissionError) as refused_:
            await streams.republish(web, settings, letter.sequence)
        message = str(refused_.value)
        assert "\n" not in message and "ingenium publish" in message and "ingenium.ingestor.data.acme" in message
        assert (await admin.jetstream().stream_info("INGENIUM_DATA")).state.messages == 0
