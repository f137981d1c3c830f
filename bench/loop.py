"""Loop latency: a bar published → its fill projected in the ledger, beside raw baselines in the same run.

Usage: python bench/loop.py [--samples N]

Starts an embedded nats-server and PostgreSQL (or uses INGENIUM_NATS_URL / INGENIUM_DATABASE_URL, with a fresh
namespace and database) and measures, one bar at a time on loopback:

* ingenium loop: a strategy that flips long/short on every bar → RiskPortfolio → PaperExecutor → ledger
  projector; from publishing the bar until its fill is a row of ``ledger_fills``;
* raw chain: the same shape in bare nats-py and asyncpg: three JetStream hops (consume, publish with ack,
  ack) and one INSERT commit; from publishing until the row is there;
* raw hop: one JetStream publish → pull-consume, the floor under every hop above.

Both end-to-end paths are observed by the same polling of PostgreSQL (every 0.5 ms), which adds up to ~1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres
from ingenium.events import DataEvent, SignalEvent
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.streams import ensure_streams
from ingenium.testing import bar
from ledger.config import LedgerConfig
from ledger.migrate import upgrade
from ledger.projector import Projector
from services.executor import PaperExecutor
from services.portfolio import RiskPortfolio
from services.settle import finish


class Flip(Strategy):
    """Long on even bars, short on odd ones: every bar makes the portfolio trade."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bars = 0

    def on_data(self, event: DataEvent) -> SignalEvent:
        self.bars += 1
        close = event.bar.close
        return self.long(event.symbol, close) if self.bars % 2 else self.short(event.symbol, close)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def until_rows(conn: asyncpg.Connection, table: str, rows: int) -> None:
    deadline = time.monotonic() + 10
    while await conn.fetchval(f"SELECT count(*) FROM {table}") < rows:
        if time.monotonic() > deadline:
            raise SystemExit(f"{table} did not reach {rows} rows within 10s")
        await asyncio.sleep(0.0005)


async def measure(samples: int, publish: Callable[[int], Awaitable[None]], conn: asyncpg.Connection,
                  table: str) -> list[float]:
    out = []
    base = await conn.fetchval(f"SELECT count(*) FROM {table}")
    for i in range(samples):
        start = time.perf_counter()
        await publish(i)
        await until_rows(conn, table, base + i + 1)
        out.append(time.perf_counter() - start)
    return out


async def ingenium_loop(settings: Settings, samples: int) -> tuple[list[float], list[float]]:
    assert settings.database_url is not None
    await asyncio.to_thread(upgrade, settings.database_url)
    nc = await connect_nats(settings, name="bench-loop")
    await ensure_streams(nc.jetstream(), settings)
    stop = asyncio.Event()
    ledger = asyncio.create_task(Projector(settings, LedgerConfig()).run(stop))
    components = [Flip(), RiskPortfolio(quantity=10), PaperExecutor()]
    runners = [Runner(c, settings, nc=nc) for c in components]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    for runner in runners:
        await runner.ready.wait()
    bus = JetStreamBus(nc, settings.subjects)
    conn = await asyncpg.connect(settings.database_url)
    sent: dict[int, float] = {}
    to_stream: list[float] = []
    fills = 0

    async def seen(_: Any) -> None:  # every execution here is a fill: the flip strategy trades on each bar
        nonlocal fills
        fills += 1
        if fills - 6 in sent:  # five warm-up fills, then bar i gives fill 6 + i
            to_stream.append(time.perf_counter() - sent[fills - 6])

    observer = await nc.subscribe(settings.subjects.execution, cb=seen)
    try:
        # Warm-up: the executor learns the symbol's price (a fill needs one) and every path runs once.
        await measure(5, lambda i: _publish(bus, i), conn, "ledger_fills")

        async def timed(i: int) -> None:
            sent[i] = time.perf_counter()
            await _publish(bus, i + 5)

        to_ledger = await measure(samples, timed, conn, "ledger_fills")
        return to_ledger, to_stream
    finally:
        await observer.unsubscribe()
        await conn.close()
        for runner in runners:
            runner.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop.set()
        await finish(ledger)
        await nc.drain()


async def _publish(bus: JetStreamBus, i: int) -> None:
    await bus.publish(bar("acme", "100", minutes=i))


async def raw_chain(nats_url: str, database_url: str, samples: int) -> tuple[list[float], list[float]]:
    nc = Client()
    await nc.connect(nats_url)
    js = nc.jetstream()
    prefix = f"raw{uuid.uuid4().hex[:8]}"
    stages = ["data", "signal", "order", "execution"]
    for stage in stages:
        await js.add_stream(StreamConfig(name=f"{prefix}_{stage}".upper(), subjects=[f"{prefix}.{stage}"]))
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE IF NOT EXISTS raw_fills (id text PRIMARY KEY, payload bytea)")
    writer = await asyncpg.connect(database_url)
    running = True

    async def hop(source: str, target: str | None) -> None:
        sub = await js.pull_subscribe(f"{prefix}.{source}", durable=f"{prefix}-{source}",
                                      config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
        while running:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except Exception:
                continue
            for msg in msgs:
                if target is not None:
                    msg_id = f"{target}-{msg.metadata.sequence.stream}"
                    await js.publish(f"{prefix}.{target}", msg.data, headers={"Nats-Msg-Id": msg_id})
                else:
                    await writer.execute("INSERT INTO raw_fills VALUES ($1, $2)", uuid.uuid4().hex, msg.data)
                await msg.ack()

    tasks = [asyncio.create_task(hop(a, b)) for a, b in zip(stages, [*stages[1:], None], strict=True)]
    payload = bar("acme", "100").to_json()
    chain = await measure(samples, lambda i: _raw_publish(js, f"{prefix}.data", payload, i), conn, "raw_fills")

    one = await js.pull_subscribe(f"{prefix}.signal", durable=f"{prefix}-single",
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
    await one.fetch(samples, timeout=2)  # the chain's signals: skip them
    single = []
    for i in range(samples):
        start = time.perf_counter()
        await js.publish(f"{prefix}.signal", payload, headers={"Nats-Msg-Id": f"single{i}"})
        while True:
            msgs = await one.fetch(1, timeout=1)
            if msgs:
                await msgs[0].ack()
                break
        single.append(time.perf_counter() - start)
    running = False
    await asyncio.gather(*tasks, return_exceptions=True)
    await conn.execute("DROP TABLE raw_fills")
    await conn.close()
    await writer.close()
    await nc.close()
    return chain, single


async def _raw_publish(js: Any, subject: str, payload: bytes, i: int) -> None:
    await js.publish(subject, payload, headers={"Nats-Msg-Id": f"bar{i}"})


async def main(samples: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="ingenium-bench-loop-"))
    nats_server = None if os.environ.get("INGENIUM_NATS_URL") else EmbeddedNats(work / "nats")
    postgres = None if os.environ.get("INGENIUM_DATABASE_URL") else EmbeddedPostgres(work / "pg")
    nats_url = nats_server.start() if nats_server else os.environ["INGENIUM_NATS_URL"]
    server_url = postgres.start() if postgres else os.environ["INGENIUM_DATABASE_URL"]
    database = f"bench_loop_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{database}"')
    from services.demo import database_url_for

    database_url = database_url_for(server_url, database)
    try:
        settings = Settings(nats_url=nats_url, database_url=database_url, namespace=f"bench{uuid.uuid4().hex[:6]}",
                            data_dir=work)
        loop, to_stream = await ingenium_loop(settings, samples)
        chain, single = await raw_chain(nats_url, database_url, samples)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        if nats_server:
            nats_server.stop()
        if postgres:
            postgres.stop()
    print(f"bar published → fill in the ledger, {samples} bars one at a time, loopback (ms):")
    rows = [("ingenium loop", loop, "strategy → portfolio → paper executor → ledger projector"),
            ("  to stream", to_stream, "the same, until the fill is on the execution stream (no ledger)"),
            ("raw chain", chain, "3 bare JetStream hops + 1 INSERT commit (asyncpg)"),
            ("raw hop", single, "1 JetStream publish → pull consume")]
    for name, values, what in rows:
        p50, p99 = percentiles(values)
        print(f"  {name:<14} p50 {p50:7.2f}   p99 {p99:7.2f}   {what}")
    print(f"  ratio ingenium loop / raw chain: p50 {percentiles(loop)[0] / percentiles(chain)[0]:.1f}x, "
          f"p99 {percentiles(loop)[1] / percentiles(chain)[1]:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300, help="bars measured (default 300)")
    asyncio.run(main(parser.parse_args().samples))
