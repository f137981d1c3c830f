"""The whole loop on a 3-node cluster with R3 streams, losing nodes mid-run: nothing lost, nothing doubled.

SmaCross, RiskPortfolio, the paper executor and the ledger run as `ingenium` processes, fed by
`ingenium ingest synthetic`, all given the three nodes' URLs in INGENIUM_NATS_URL. The leader of the orders
stream (also leading the data and signal streams, so the feed and the strategy lose their leader too) is killed
with SIGKILL mid-run and restarted 4 s later; then the node the executor is connected to. Every process must
ride both out by itself, and at the end the streams and the ledger must hold exactly what a clean single-node
run of the same feed produces, but for the order of fills that were in flight to a lost leader (sent again, they
are stored after later ones): the ledger must then have folded the stream's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.runtime import Runner
from ingenium.streams import cluster_nodes
from ingenium.subjects import StreamKey
from ingenium.testing import with_database
from ledger.projection import fold_position
from ledger.rows import FillRow
from services.ingestors import SyntheticFeed
from services.settle import busy_consumers, consumers_of, ledger_lag, wait_until
from tests.cluster.harness import NatsCluster, move_leader, provision_streams, stream_leader
from tests.cluster.trading import (
    COMPONENTS,
    FEED,
    FEED_START,
    STARTING_CASH,
    SYMBOLS,
    Outcome,
    Process,
    feed_args,
    outcome,
    start,
)
from tests.services.live import running

pytestmark = pytest.mark.cluster

#: Bars per symbol, one every 0.05 s: 15 s of feed, plus the pauses while its stream elects a leader, which is
#: long enough for both failovers to happen mid-run.
TICKS = 300
SPEED = "1200"


@contextlib.asynccontextmanager
async def database(server: str) -> AsyncIterator[str]:
    """A fresh database on the session's PostgreSQL, dropped afterwards."""
    name = f"ingenium_cluster_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(server, name)
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def messages(nc: Client, settings: Settings, key: StreamKey) -> int:
    try:
        return (await nc.jetstream(timeout=2).stream_info(settings.subjects.stream(key))).state.messages
    except Exception:  # an election in progress: not yet
        return 0


async def reach(nc: Client, settings: Settings, key: StreamKey, count: int, processes: list[Process]) -> int:
    """Wait until a stream holds ``count`` messages (failing early if a process died)."""
    deadline = time.monotonic() + 120
    while (n := await messages(nc, settings, key)) < count:
        dead = [p for p in processes if p.popen.poll() not in (None, 0)]
        assert not dead, "\n".join(p.tail() for p in dead)
        assert time.monotonic() < deadline, f"{key} stream stuck at {n} of {count}"
        await asyncio.sleep(0.1)
    return n


async def cluster_run(cluster: NatsCluster, settings: Settings, logs: Path) -> tuple[Outcome, list[str]]:
    """The loop as processes on the cluster, with the two kills; returns its outcome and what was killed."""
    nc = await connect_nats(settings, name="test")
    processes: list[Process] = []
    killed: list[str] = []
    try:
        js = nc.jetstream(timeout=10)
        await provision_streams(nc, settings, nodes=cluster_nodes(nc))
        assert (await js.stream_info(settings.subjects.stream("order"))).config.num_replicas == 3
        first = await stream_leader(js, settings.subjects.stream("order"))
        for key in ("data", "signal"):
            await move_leader(nc, settings.subjects.stream(key), first)
        processes.append(start("ledger", ["ledger", "serve", "--starting-cash", str(STARTING_CASH)], settings, logs))
        processes += [start(spec.name, spec.args(), settings, logs) for spec in COMPONENTS]
        components = [spec.build() for spec in COMPONENTS]
        consumers = consumers_of(components)

        async def not_ready() -> list[str]:
            waiting = [f"{d} (not created yet)" for d in await _missing(nc, settings, consumers)]
            if "ledger: projecting" not in processes[0].log.read_text(errors="replace"):
                waiting.append("the ledger")
            dead = [p.tail() for p in processes if p.popen.poll() is not None]
            assert not dead, "\n".join(dead)
            return waiting

        await wait_until(not_ready, within=90, what="the components' start", interval=0.2)
        feed = start("feed", feed_args(TICKS, SPEED), settings, logs)
        processes.append(feed)

        # 1. The orders stream's leader (and the data and signal streams'), mid-run.
        orders = await reach(nc, settings, "order", 5, processes)
        cluster.kill(first)
        killed.append(f"{first} (leader of the order, data and signal streams, at {orders} orders{_feed(feed)})")
        await asyncio.sleep(4)
        cluster.restart(first)
        await asyncio.to_thread(cluster.wait_healthy, 60, [first])

        # 2. The node the executor, a busy consumer, is connected to (not the one restarted: clients moved off it).
        orders = await reach(nc, settings, "order", orders + 3, processes)
        second = cluster.node_of("paper")
        assert second is not None, "the executor is connected to no node"
        cluster.kill(second)
        killed.append(f"{second} (the executor's node, at {orders} orders{_feed(feed)})")
        await asyncio.sleep(4)
        cluster.restart(second)
        await asyncio.to_thread(cluster.wait_healthy, 60, [second])

        code = await asyncio.to_thread(feed.popen.wait, 120)
        assert code == 0, feed.tail(40)
        await _settle(nc, settings, consumers)
    finally:
        for process in processes:
            process.terminate()
        codes = {p.name: p.stop() for p in processes}
        await nc.drain()
    logs_tail = "\n".join(p.tail() for p in processes)
    assert all(code == 0 for code in codes.values()), f"exit codes {codes}\n{logs_tail}"
    nc = await connect_nats(settings, name="test-readback")
    try:
        return await outcome(nc, settings), killed
    finally:
        await nc.drain()


async def reference_run(settings: Settings, store: Path) -> Outcome:
    """The same feed through the same components on one embedded nats-server, in this process."""
    server = EmbeddedNats(store)
    settings = settings.model_copy(update={"nats_url": server.start(), "stream_replicas": 1})
    try:
        nc = await connect_nats(settings, name="reference")
        try:
            components = [spec.build() for spec in COMPONENTS]
            async with running(settings, nc) as loop:
                await loop.start_ledger(starting_cash=STARTING_CASH)
                for component in components:
                    await loop.start(component)
                feed = SyntheticFeed(name="synthetic_feed", symbols=list(SYMBOLS), speed="max", count=TICKS,
                                     start=FEED_START, **FEED)
                await Runner(feed, settings, nc=nc).run()
                await loop.settle(components, within=60)
            return await outcome(nc, settings)
        finally:
            await nc.drain()
    finally:
        server.stop()


@pytest.mark.timeout(300)  # about 90 s on an idle 2-core machine; much more when it is shared
async def test_losing_the_orders_leader_and_a_consumers_node_loses_and_doubles_nothing(
    cluster: NatsCluster, postgres_server: str, tmp_path: Path
) -> None:
    async with database(postgres_server) as live_db, database(postgres_server) as reference_db:
        settings = Settings(nats_url=cluster.urls, database_url=live_db, data_dir=tmp_path / "data",
                            stream_replicas=3, ack_wait_seconds=3, retry_backoff_seconds=0.05)
        # The reference runs while the cluster run's processes start: it only shares the machine with them.
        (live, killed), reference = await asyncio.gather(
            cluster_run(cluster, settings, tmp_path / "logs"),
            reference_run(settings.model_copy(update={"database_url": reference_db}), tmp_path / "reference-nats"),
        )

    context = f"killed {', '.join(killed)}; logs in {tmp_path / 'logs'}"
    assert len(killed) == 2
    assert not live.duplicates(), context
    assert len(live.ids["data"]) == TICKS * len(SYMBOLS), context
    for key, ids in reference.ids.items():
        missing, extra = set(ids) - set(live.ids[key]), set(live.ids[key]) - set(ids)
        assert not missing and not extra, f"{key}: {len(missing)} missing, {len(extra)} extra; {context}"
    unanswered = set(reference.answered) - set(live.answered)
    assert not unanswered, f"{len(unanswered)} signals got no order; {context}"
    assert len(live.ids["signal"]) > 20 and len(live.ids["order"]) > 20
    same_fills_folded_in_stream_order(live, reference, context)
    if live.ids["execution"] == reference.ids["execution"]:
        for table, rows in reference.ledger.items():
            assert live.ledger[table] == rows, f"ledger_{table} differs from the single-node run; {context}"
    assert live.ledger["anomalies"] == []
    assert all(not duplicate for _, duplicate, _, _ in live.ledger["events"])


def same_fills_folded_in_stream_order(live: Outcome, reference: Outcome, context: str) -> None:
    """The ledger is the single-node run's but for the order its fills were stored in, and it folded that order.

    When a stream's leader is lost, publishes in flight to it fail while later ones reach the new leader; sent
    again (same ids), they are stored after those. Each consumer, the ledger included, sees one order: the
    stream's. What does not depend on it (each fill, each order, cash, quantities) must equal the single-node
    run; what does (each fill's realized PnL, cost basis: average cost) must be the fold of the live stream.
    """
    if live.ids["execution"] != reference.ids["execution"]:
        context = f"execution stream stored in another order than the single-node run's; {context}"
    for table in ("orders", "cash", "events", "anomalies"):
        assert live.ledger[table] == reference.ledger[table], f"ledger_{table} differs; {context}"
    without_pnl = [row[:7] for row in reference.ledger["fills"]]
    assert [row[:7] for row in live.ledger["fills"]] == without_pnl, f"ledger_fills differ; {context}"
    by_symbol: dict[str, list[FillRow]] = {}
    for fill in live.fills:
        by_symbol.setdefault(fill.symbol, []).append(dataclasses.replace(fill, realized_pnl=None))
    folded = {symbol: fold_position(symbol, fills) for symbol, fills in by_symbol.items()}
    refolded = {fill.exec_id: fill.realized_pnl for fills in by_symbol.values() for fill in fills}
    ledger_pnl = {f.exec_id: f.realized_pnl for f in live.fills}
    assert ledger_pnl == refolded, f"fills' realized PnL is not the fold of the stream; {context}"
    for (symbol, quantity, _, cost_basis, realized, commissions, fills), ref in zip(
        live.ledger["positions"], reference.ledger["positions"], strict=True
    ):
        assert (symbol, quantity, commissions, fills) == (ref[0], ref[1], ref[5], ref[6]), context
        position = folded[symbol]
        assert position is not None
        assert (cost_basis, realized) == (position.cost_basis, position.realized_pnl), f"{symbol}: {context}"


def _feed(feed: Process) -> str:
    return ", feed running" if feed.popen.poll() is None else ", feed done"


async def _missing(nc: Client, settings: Settings, consumers: list[tuple[StreamKey, str]]) -> list[str]:
    js = nc.jetstream(timeout=2)
    missing = []
    for key, durable in consumers:
        try:
            await js.consumer_info(settings.subjects.stream(key), durable)
        except Exception:
            missing.append(durable)
    return missing


async def _settle(nc: Client, settings: Settings, consumers: list[tuple[StreamKey, str]]) -> None:
    """Wait until every consumer is idle and the ledger has projected every order and execution."""
    js = nc.jetstream(timeout=5)
    database_url = settings.database_url
    assert database_url is not None

    async def busy() -> list[str]:
        try:
            return await busy_consumers(js, settings.subjects, consumers)
        except Exception as exc:  # a consumer's leader still being elected
            return [repr(exc)]

    await wait_until(busy, within=90, what="the loop", interval=0.2, settle=3)
    conn = await asyncpg.connect(database_url)
    try:
        await wait_until(lambda: ledger_lag(js, settings.subjects, conn), within=60, what="the ledger",
                         interval=0.2)
    finally:
        await conn.close()
