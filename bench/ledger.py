"""Ledger throughput: N order/fill events projected end to end (JetStream → PostgreSQL), beside the raw limits
of its two building blocks measured on the same servers in the same run.

Usage: python bench/ledger.py [--events N] [--repeat R]

Starts an embedded nats-server and PostgreSQL (pgserver), or uses INGENIUM_NATS_URL / INGENIUM_DATABASE_URL
with a fresh namespace and database. Raw limits:
- fetch: a plain nats-py pull fetch (batches of 1000, no acks) of the same messages;
- COPY: asyncpg COPY of the same rows the ledger writes (one audit row per event, one row per order and per
  fill), one transaction per 1000 events.
The ledger is timed from when its projector holds the lock until every event is in PostgreSQL, in this
process with the garbage-collector setting `ingenium ledger serve` uses (so are the raw baselines).
Target (issue #15): the ledger reaches at least 0.7 of the lower raw limit. Medians of R runs are printed.
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
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

# This script is bench/ledger.py: without the project root first on the path, `import ledger` would import itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres
from ingenium.events import Event, Side
from ingenium.streams import ensure_streams
from ingenium.testing import fill, order, with_database
from ledger.batch_sql import EVENT_COLUMNS, audit_row
from ledger.config import LedgerConfig
from ledger.messages import Message, parse
from ledger.migrate import upgrade
from ledger.projector import Projector, tune_garbage_collector
from ledger.rows import FillRow

SYMBOLS = [f"sym{i}" for i in range(50)]
#: The ledger projection's target against the lower raw limit (issue #15).
TARGET = 0.7


def events(n: int) -> tuple[list[Event], list[Event]]:
    """n events: a third orders, two thirds fills (each order filled in two parts)."""
    orders, fills = [], []
    for i in range(n // 3):
        o = order(SYMBOLS[i % len(SYMBOLS)], Side.BUY if i % 3 else Side.SELL, "10", event_id=f"o{i}")
        orders.append(o)
        fills.append(fill(o, "4", Decimal(10000 + i % 500) / 100, cum_quantity="4", commission="0.1",
                          exec_id=f"x{i}a"))
        fills.append(fill(o, "6", Decimal(10100 + i % 500) / 100, cum_quantity="10", commission="0.1",
                          exec_id=f"x{i}b"))
    return orders, fills


async def raw_fetch(nc: Client, settings: Settings, total: int) -> float:
    """Plain nats-py fetch of both streams, as fast as it goes: messages per second."""
    js = nc.jetstream()
    start = time.perf_counter()
    got = 0
    for key in ("order", "execution"):
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, mem_storage=True,
                                inactive_threshold=30)
        sub = await js.pull_subscribe(settings.subjects.stream_subjects(key)[0],  # type: ignore[arg-type]
                                      stream=settings.subjects.stream(key), config=config)
        while True:
            info_pending = got
            msgs = await sub.fetch(1000, timeout=2)
            got += len(msgs)
            if msgs[-1].metadata.num_pending == 0:
                break
            assert got > info_pending
        await sub.unsubscribe()
    elapsed = time.perf_counter() - start
    assert got == total, (got, total)
    return total / elapsed


async def raw_copy(admin_url: str, database: str, orders: list[Event], fills: list[Event]) -> float:
    """asyncpg COPY of the rows the ledger writes for these events, 1000 events per transaction: events/s."""
    url = with_database(admin_url, database)
    conn = await asyncpg.connect(url)
    try:
        for table in ("ledger_events", "ledger_orders", "ledger_fills"):
            await conn.execute(f"CREATE TABLE copy_{table} (LIKE {table} INCLUDING ALL)")
        now = datetime.now(UTC)
        audit, order_rows, fill_rows = [], [], []
        for kind, batch in (("order", orders), ("execution", fills)):
            for seq, event in enumerate(batch, start=1):
                message = Message(f"S_{kind}", seq, kind, event.to_json(), {"Nats-Msg-Id": event.id}, now)
                audit.append(audit_row(parse(message, kind), kind, False))  # type: ignore[arg-type]
        for seq, o in enumerate(orders, start=1):
            order_rows.append((o.id, "test", None, o.symbol, "buy", "market", "day", Decimal(10), None, "filled",  # type: ignore[attr-defined]
                               Decimal(10), Decimal(1000), Decimal(100), Decimal("0.2"), None, now, now, seq))
        for seq, f in enumerate(fills, start=1):
            fill_rows.append(FillRow(f.id, "o", "sym", Side.BUY, Decimal(4), Decimal(100), Decimal("0.1"), now,
                                     seq).row())
        columns = {
            "ledger_events": EVENT_COLUMNS,
            "ledger_orders": ("order_id", "strategy_id", "signal_id", "symbol", "side", "order_type", "time_in_force",
                              "quantity", "limit_price", "status", "filled_quantity", "filled_notional",
                              "average_price", "commission", "reason", "created_at", "updated_at", "stream_sequence"),
            "ledger_fills": FillRow.COLUMNS,
        }
        total = len(audit)
        start = time.perf_counter()
        step = 1000
        for i in range(0, total, step):
            async with conn.transaction():
                await conn.copy_records_to_table("copy_ledger_events", records=audit[i:i + step],
                                                 columns=columns["ledger_events"])
                share = slice(i * len(order_rows) // total, (i + step) * len(order_rows) // total)
                await conn.copy_records_to_table("copy_ledger_orders", records=order_rows[share],
                                                 columns=columns["ledger_orders"])
                share = slice(i * len(fill_rows) // total, (i + step) * len(fill_rows) // total)
                await conn.copy_records_to_table("copy_ledger_fills", records=fill_rows[share],
                                                 columns=columns["ledger_fills"])
        return total / (time.perf_counter() - start)
    finally:
        await conn.close()


async def ledger_run(settings: Settings, total: int) -> float:
    """The projector on an empty ledger, from when it holds the lock until every event is projected: events/s."""
    assert settings.database_url
    projector = Projector(settings, LedgerConfig())
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    while not projector.active.is_set():
        if task.done():
            task.result()
        await asyncio.sleep(0.001)
    start = time.perf_counter()
    while projector.projected < total:
        if task.done():
            task.result()
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    return total / elapsed


async def fresh_database(admin_url: str) -> str:
    name = f"bench_ledger_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(upgrade, with_database(admin_url, name))
    return name


async def drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def main(n: int, repeat: int, nats_url: str, pg_url: str) -> bool:
    # As `ingenium ledger serve` does; the raw baselines run in this same process with the same setting.
    tune_garbage_collector(LedgerConfig())
    settings = Settings(nats_url=nats_url, namespace=f"bench{uuid.uuid4().hex[:8]}")
    nc = await connect_nats(settings, name="bench-ledger")
    await ensure_streams(nc.jetstream(), settings)
    orders, fills = events(n)
    total = len(orders) + len(fills)
    bus = JetStreamBus(nc, settings.subjects)
    for chunk in range(0, len(orders), 5000):
        await bus.publish_many(orders[chunk:chunk + 5000])
    for chunk in range(0, len(fills), 5000):
        await bus.publish_many(fills[chunk:chunk + 5000])
    print(f"{total} events ({len(orders)} orders, {len(fills)} fills) in JetStream; {repeat} run(s), medians:")
    fetches, copies, ledgers = [], [], []
    try:
        for _ in range(repeat):
            fetches.append(await raw_fetch(nc, settings, total))
            scratch = await fresh_database(pg_url)
            try:
                copies.append(await raw_copy(pg_url, scratch, orders, fills))
            finally:
                await drop_database(pg_url, scratch)
            name = await fresh_database(pg_url)
            try:
                run = settings.model_copy(update={"database_url": with_database(pg_url, name)})
                ledgers.append(await ledger_run(run, total))
            finally:
                await drop_database(pg_url, name)
    finally:
        for key in ("data", "signal", "order", "execution", "deadletter"):
            await nc.jetstream().delete_stream(settings.subjects.stream(key))
        await nc.drain()
    fetch_rate, copy_rate, ledger_rate = (statistics.median(x) for x in (fetches, copies, ledgers))
    lower = min(fetch_rate, copy_rate)
    print(f"  raw fetch (nats-py, same messages)      {fetch_rate:>10,.0f} msg/s")
    print(f"  raw COPY (asyncpg, same rows)           {copy_rate:>10,.0f} events/s")
    print(f"  ledger, JetStream → PostgreSQL          {ledger_rate:>10,.0f} events/s")
    print(f"  ledger / raw fetch   {ledger_rate / fetch_rate:6.2f}")
    print(f"  ledger / raw COPY    {ledger_rate / copy_rate:6.2f}")
    ok = ledger_rate >= TARGET * lower
    print(f"  ledger / lower raw limit {ledger_rate / lower:.2f} (target >= {TARGET:.2f}, issue #15): "
          f"{'met' if ok else 'NOT met'}")
    return ok


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=30000, help="events to project (a third orders)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; medians are printed")
    args = parser.parse_args()
    nats_url, pg_url = os.environ.get("INGENIUM_NATS_URL"), os.environ.get("INGENIUM_DATABASE_URL")
    workdir = Path(tempfile.mkdtemp(prefix="ingenium-bench-ledger-"))
    nats_server = pg_server = None
    try:
        if not nats_url:
            nats_server = EmbeddedNats(workdir / "nats")
            nats_url = nats_server.start()
        if not pg_url:
            pg_server = EmbeddedPostgres(workdir / "pg")
            pg_url = pg_server.start()
        asyncio.run(main(args.events, args.repeat, nats_url, pg_url))
        return 0  # a report: a target not met is printed, and `make bench` goes on to the next benchmark
    finally:
        if nats_server:
            nats_server.stop()
        if pg_server:
            pg_server.stop()


if __name__ == "__main__":
    sys.exit(run())
