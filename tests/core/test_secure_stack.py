"""`ingenium up --secure`: one NATS user per component kind, each refused what its job does not need.

The real commands run in child processes: the stack, the provisioning step, the ledger and the components of
the trading loop, each connecting with its own kind's nkey; the loop must reach the ledger with no permission
violation logged by nats-server, and a strategy's own credentials are tried on what it must not do.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import stat
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats.errors
import nkeys
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from ingenium import credentials, deadletter
from ingenium.cli.status import STACK_CONNECTION
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.permissions import KINDS
from ingenium.testing import eventually
from services.data import SAMPLE_FILE
from services.web import streams as web_streams
from tests.core.test_cli import assert_one_line_error, cli
from tests.core.test_stack import component, field, start_up, stop, user_env
from tests.reply_injection import pull_into_the_order_subject

COMPONENTS = {
    "strategy": ["run", "services.strategies.sma_cross:SmaCross", "--name", "sma_cross", "-p", "fast=5",
                 "-p", "slow=20"],
    "portfolio": ["run", "services.portfolio.portfolio:RiskPortfolio", "--name", "portfolio",
                  "-p", "sizing=notional", "-p", "notional=5000"],
    "executor": ["run", "services.executor.paper:PaperExecutor", "--name", "paper_executor"],
    "ledger": ["ledger", "serve"],
}
PROVISION = ["streams", "init",
             "--component", "sma_cross=services.strategies.sma_cross:SmaCross",
             "--component", "portfolio=services.portfolio.portfolio:RiskPortfolio",
             "--component", "paper_executor=services.executor.paper:PaperExecutor"]


@pytest.fixture
def secure_stack(tmp_path: Path, database_url: str) -> Iterator[tuple[dict[str, str], Path]]:
    env = user_env(tmp_path) | {"INGENIUM_DATA_DIR": str(tmp_path / "data"), "INGENIUM_DATABASE_URL": database_url}
    up, output = start_up(env, tmp_path / "cwd", "--secure")
    assert f"NATS users one nkey per component kind, seeds in {tmp_path / 'data' / 'credentials'}" in output
    try:
        yield env, tmp_path / "data"
    finally:
        stop(up)


def violations(data_dir: Path) -> list[str]:
    log = data_dir / "nats" / "nats-server.log"
    return [line for line in log.read_text().splitlines() if "Violation" in line]


def as_kind(data_dir: Path, kind: str) -> Settings:
    state = json.loads((data_dir / "stack.json").read_text())
    return credentials.for_kind(Settings(data_dir=data_dir, nats_url=state["nats_url"]), kind)


@pytest.mark.timeout(900)
async def test_a_secure_stack_runs_the_loop_with_each_kind_as_its_own_user(
    secure_stack: tuple[dict[str, str], Path], database_url: str, tmp_path: Path
) -> None:
    env, data_dir = secure_stack
    for kind in KINDS:
        seed = credentials.seed_path(data_dir, kind)
        assert stat.S_IMODE(seed.stat().st_mode) == 0o600, kind
        assert seed.read_text().startswith("SU")

    # Before provisioning, a component may not make its own consumer: one line naming the step that does.
    early = await asyncio.to_thread(cli, *COMPONENTS["strategy"], env=env, cwd=tmp_path)
    assert_one_line_error(early, "ingenium streams init")

    init = await asyncio.to_thread(cli, *PROVISION, env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    for line in ("created consumer sma_cross-data on INGENIUM_DATA", "created consumer portfolio-signal",
                 "created consumer paper_executor-order", "key-value bucket"):
        assert line in init.stdout, init.stdout

    logs = {kind: tmp_path / f"{kind}.log" for kind in COMPONENTS}
    processes = {kind: component(args, env, logs[kind]) for kind, args in COMPONENTS.items()}
    try:
        bars = tmp_path / "bars.csv"
        bars.write_text("".join(SAMPLE_FILE.read_text().splitlines(keepends=True)[: 1 + 4 * 120]))
        ingest = await asyncio.to_thread(cli, "ingest", "file", str(bars), env=env, cwd=tmp_path)
        assert ingest.returncode == 0, ingest.stderr

        async def filled() -> bool:
            for kind, process in processes.items():
                assert process.poll() is None, f"{kind} exited: {logs[kind].read_text()[-2000:]}"
            conn = await asyncpg.connect(database_url)
            try:
                count = await conn.fetchval("SELECT count(*) FROM ledger_orders WHERE status = 'filled'")
            finally:
                await conn.close()
            return int(count or 0) >= 2

        await eventually(filled, timeout=120, interval=0.5)
        # A portfolio recovers (direct gets of the streams, its durables' positions) with its user's rights alone.
        processes["portfolio"].send_signal(signal.SIGTERM)
        assert processes["portfolio"].wait(timeout=60) == 0, logs["portfolio"].read_text()[-2000:]
        logs["portfolio"] = tmp_path / "portfolio-restarted.log"
        processes["portfolio"] = component(COMPONENTS["portfolio"], env, logs["portfolio"])
        await eventually(lambda: "portfolio: recovered Recovered(" in logs["portfolio"].read_text(), timeout=60,
                         interval=0.5)
        assert processes["portfolio"].poll() is None, logs["portfolio"].read_text()[-2000:]
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {kind: process.wait(timeout=60) for kind, process in processes.items()}
    assert codes == dict.fromkeys(COMPONENTS, 0), {k: logs[k].read_text()[-2000:] for k, c in codes.items() if c}
    assert violations(data_dir) == []


@pytest_asyncio.fixture
async def provisioned(secure_stack: tuple[dict[str, str], Path], tmp_path: Path) -> AsyncIterator[Clients]:
    """The stack's streams and the loop's durables made; a strategy's and the provisioner's connections."""
    env, data_dir = secure_stack
    init = await asyncio.to_thread(cli, *PROVISION, env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    strategy = await connect_nats(as_kind(data_dir, "strategy"), name="test-strategy")
    admin = await connect_nats(as_kind(data_dir, "provisioner"), name="test-admin")
    try:
        yield Clients(data_dir, strategy, admin)
    finally:
        await strategy.close()
        await admin.close()


@dataclass
class Clients:
    data_dir: Path
    strategy: Client
    admin: Client


async def test_a_strategy_may_not_publish_orders_or_executions_nor_read_another_inbox(provisioned: Clients) -> None:
    data_dir = provisioned.data_dir
    js = provisioned.strategy.jetstream(timeout=1.0)
    for subject in ("ingenium.portfolio.order", "ingenium.executor.execution"):
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await js.publish(subject, b"{}")
        await eventually(lambda s=subject: any(f'Subject "{s}"' in v for v in violations(data_dir)),  # type: ignore[misc]
                         timeout=5)
    # The portfolio's replies (its pull deliveries, its publish acks) go to its own inbox prefix.
    await provisioned.strategy.subscribe("_INBOX_portfolio.>")
    await provisioned.strategy.flush()
    await eventually(lambda: any("Subscription Violation" in v and "_INBOX_portfolio" in v
                                 for v in violations(data_dir)), timeout=5)
    # Its own signal is accepted, so the refusals above are its permissions, not a broken connection.
    assert (await js.publish("ingenium.strategy.signal", b"{}")).stream == "INGENIUM_SIGNALS"
    for stream in ("INGENIUM_ORDERS", "INGENIUM_EXECUTIONS"):
        assert (await provisioned.admin.jetstream().stream_info(stream)).state.messages == 0, stream


async def test_the_ledger_and_a_portfolio_may_neither_create_nor_delete_consumers(provisioned: Clients) -> None:
    data_dir = provisioned.data_dir
    for kind, stream in (("ledger", "INGENIUM_ORDERS"), ("portfolio", "INGENIUM_SIGNALS")):
        nc = await connect_nats(as_kind(data_dir, kind), name=f"test-{kind}")
        try:
            js = nc.jetstream(timeout=1.0)
            with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                await js.add_consumer(stream, ConsumerConfig(name=f"{kind}-reader"))
            await eventually(lambda s=stream: any(f"CONSUMER.CREATE.{s}" in v  # type: ignore[misc]
                                                  for v in violations(data_dir)), timeout=5)
            with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
                await js.delete_consumer("INGENIUM_SIGNALS", "portfolio-signal")
            # What it may do instead: read the stream by direct get (nothing stored yet: no message, no refusal).
            with pytest.raises(NotFoundError):
                await js.get_msg(stream, 1, direct=True)
        finally:
            await nc.close()
    admin = provisioned.admin.jetstream()
    assert {c.name for c in await admin.consumers_info("INGENIUM_SIGNALS")} == {"portfolio-signal"}


async def test_a_pull_whose_reply_names_the_order_subject_places_no_order(provisioned: Clients) -> None:
    assert await pull_into_the_order_subject(provisioned.admin, provisioned.strategy) == 0


def test_a_malformed_component_to_provision_is_refused_in_one_line(tmp_path: Path) -> None:
    result = cli("streams", "init", "--component", "nope", env=user_env(tmp_path), cwd=tmp_path)
    assert_one_line_error(result, "NAME=package.module:Class")


def test_the_web_ui_that_up_serves_connects_as_the_web_user(tmp_path: Path, database_url: str) -> None:
    env = user_env(tmp_path) | {"INGENIUM_DATA_DIR": str(tmp_path / "data"), "INGENIUM_DATABASE_URL": database_url,
                                "INGENIUM_WEB_PORT": "0"}
    up, output = start_up(env, tmp_path / "cwd", "--secure")
    try:
        found = re.search(r"^web UI\s+(http\S+)", output, flags=re.MULTILINE)
        assert found, output
        url = found.group(1)
        with urllib.request.urlopen(url + "api/v1/components", timeout=30) as answer:
            assert answer.status == 200
        monitor = field(output, "monitoring")
        with urllib.request.urlopen(f"{monitor}/connz?auth=true", timeout=30) as answer:
            connections = json.loads(answer.read())["connections"]
        users = {c.get("name"): c.get("authorized_user") for c in connections}
        public = nkeys.from_seed(credentials.seed_path(tmp_path / "data", "web").read_bytes().strip())
        assert users.get(f"{STACK_CONNECTION}-web") == public.public_key.decode(), users
    finally:
        stop(up)
    assert violations(tmp_path / "data") == []


async def test_the_web_user_may_republish_a_cancel_but_an_order_is_refused_in_one_line(provisioned: Clients) -> None:
    """The web UI may publish cancels only: republishing a dead-lettered order names the operator's way instead."""
    data_dir, subjects = provisioned.data_dir, Settings().subjects
    js = provisioned.strategy.jetstream(timeout=5)
    letters = {}
    for subject in (subjects.order, subjects.cancel):
        await deadletter.dead_letter(js, subjects, component="sma_cross", reason="test", payload=b'{"Id": "x"}',
                                     subject=subject, stream="INGENIUM_ORDERS", sequence=len(letters) + 1)
        letters[subject] = (await provisioned.admin.jetstream().stream_info("INGENIUM_DEADLETTER")).state.last_seq
    settings = as_kind(data_dir, "web")
    web = await connect_nats(settings, name="test-web")
    try:
        with pytest.raises(PermissionError, match=r"may not publish on ingenium\.portfolio\.order: .*ingenium "
                                                  r"publish KIND @letter\.json") as refused:
            await web_streams.republish(web, settings, letters[subjects.order])
        assert "\n" not in str(refused.value)
        assert await web_streams.republish(web, settings, letters[subjects.cancel]) == 1
    finally:
        await web.close()
    orders = await provisioned.admin.jetstream().stream_info("INGENIUM_ORDERS")
    assert orders.state.messages == 1  # the cancel; the order was never sent
    assert violations(data_dir) == []
