"""Helpers the ledger tests share: run a projector, wait until it caught up, build executions, dump tables."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
from nats.aio.client import Client

from ingenium.bus import MSG_ID, JetStreamBus
from ingenium.config import Settings
from ingenium.events import Event, ExecutionEvent, ExecutionUpdate, OrderEvent, Side
from ingenium.ids import new_id
from ingenium.testing import T0, cancel, eventually, fill, order
from ledger.config import LedgerConfig
from ledger.projector import Projector
from ledger.roles import READER

#: Small batches, quick lock polling: many transactions and fast failover in tests.
TEST_CONFIG = LedgerConfig(batch_size=50, max_batch=200, lock_poll_seconds=0.05, retry_seconds=0.2,
                           consumer_check_seconds=0.5)


def closing(of: OrderEvent, update: ExecutionUpdate = ExecutionUpdate.CANCELED, *, reason: str = "test",
            exec_id: str | None = None, cancel_id: str | None = None) -> ExecutionEvent:
    """An execution that moves no quantity (cancel, reject, expiry, a cancel's answer) for order ``of``."""
    eid = exec_id or new_id("exec")
    return ExecutionEvent(id=eid, timestamp=T0, execution_timestamp=T0, order_id=of.id, symbol=of.symbol,
                          quantity=Decimal(0), update=update, exec_id=eid, side=of.side, reason=reason,
                          cancel_id=cancel_id)


async def publish_raw(nc: Client, settings: Settings, event: Event | bytes, *, kind: str = "",
                      msg_id: str | None = None) -> int:
    """Publish bytes (or an event's JSON) under a fresh ``Nats-Msg-Id``: a copy JetStream cannot deduplicate."""
    subjects = settings.subjects
    if isinstance(event, Event):
        subject, data = subjects.for_event(event), event.to_json()
    else:
        subject, data = (subjects.order if kind == "order" else subjects.execution), event
    ack = await nc.jetstream().publish(subject, data, headers={MSG_ID: msg_id or new_id("copy")})
    return ack.seq


async def stream_ends(nc: Client, settings: Settings) -> dict[str, int]:
    """Last sequence of the order and execution streams."""
    js = nc.jetstream()
    return {name: (await js.stream_info(name)).state.last_seq
            for name in (settings.subjects.stream("order"), settings.subjects.stream("execution"))}


async def checkpoints(database_url: str) -> dict[str, int]:
    """The ledger's checkpoints (empty before the projector first ran)."""
    conn = await asyncpg.connect(database_url)
    try:
        return {r["stream"]: r["last_sequence"] for r in await conn.fetch("SELECT * FROM ledger_checkpoints")}
    finally:
        await conn.close()


async def caught_up(nc: Client, settings: Settings) -> bool:
    """Whether the ledger projected everything the two streams hold."""
    assert settings.database_url
    ends = await stream_ends(nc, settings)
    done = await checkpoints(settings.database_url)
    return all(done.get(name, 0) >= last for name, last in ends.items())


async def wait_caught_up(nc: Client, settings: Settings, within: float = 30.0) -> None:
    """Wait until the ledger projected everything the streams hold now."""
    await eventually(lambda: caught_up(nc, settings), timeout=within, interval=0.05)


@dataclass
class Running:
    """A projector running in this process."""

    projector: Projector
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Stop it as SIGTERM would, and wait until it returned."""
        self.stop_event.set()
        await asyncio.wait_for(self.task, 30)


@contextlib.asynccontextmanager
async def running(settings: Settings, config: LedgerConfig = TEST_CONFIG, *, active: bool = True
                  ) -> AsyncIterator[Running]:
    """Run a projector in this process (waiting until it holds the lock, if ``active``); stop it on exit."""
    projector = Projector(settings, config)
    stop = asyncio.Event()
    run = Running(projector, stop, asyncio.create_task(projector.run(stop)))
    try:
        if active:
            await eventually(lambda: projector.active.is_set() or run.task.done())
            if run.task.done():
                run.task.result()
        yield run
    finally:
        await run.stop()


async def project(nc: Client, settings: Settings, config: LedgerConfig = TEST_CONFIG) -> None:
    """Run a projector until everything in the streams is projected, then stop it."""
    async with running(settings, config):
        await wait_caught_up(nc, settings)


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    """Rows of one query."""
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


# ----------------------------------------------------------------------------- a long, messy run
Action = tuple[str, Event | bytes]


def messy_run(seed: int, orders: int) -> list[Action]:
    """What a long run publishes, in order: orders, partial fills, cancels and late fills, fills without a side,
    executions before their orders, copies under new message ids, and poison messages.

    Each action is ``("bus", event)`` (a normal publish), ``("copy", event)`` (the same event under a new
    ``Nats-Msg-Id``) or ``("order-bytes"|"execution-bytes", data)`` (raw bytes that do not parse).
    """
    rng = random.Random(seed)
    actions: list[Action] = []
    held_back: list[OrderEvent] = []
    for i in range(orders):
        o = order(rng.choice(["aapl", "msft", "tsla"]), rng.choice([Side.BUY, Side.SELL]), rng.randint(1, 30),
                  event_id=f"order-{seed}-{i}")
        if rng.random() < 0.1:
            held_back.append(o)
        else:
            actions.append(("bus", o))
        done = Decimal(0)
        for part in range(rng.randint(1, 3)):
            quantity = Decimal(rng.randint(1, int(o.quantity)))
            done += quantity
            price = Decimal(rng.randint(5000, 15000)) / 100
            f = fill(o, quantity, price, cum_quantity=done, commission=Decimal(rng.randint(0, 300)) / 100,
                     exec_id=f"exec-{seed}-{i}-{part}")
            if rng.random() < 0.2:
                f = f.model_copy(update={"side": None})
            actions.append(("bus", f))
            if rng.random() < 0.05:
                actions.append(("copy", f))
            if part == 0 and rng.random() < 0.1:
                actions.append(("bus", closing(o, exec_id=f"cancel-{seed}-{i}")))
        if rng.random() < 0.15:
            actions += _cancel_actions(rng, o, f"{seed}-{i}")
        if rng.random() < 0.03:
            actions.append(("copy", o))
        if rng.random() < 0.02:
            actions.append((rng.choice(["order-bytes", "execution-bytes"]), b'{"Id": "broken", "Quantity": "x"}'))
        if held_back and rng.random() < 0.2:
            actions.append(("bus", held_back.pop(0)))
    actions += [("bus", o) for o in held_back]
    return actions


def _cancel_actions(rng: random.Random, o: OrderEvent, tag: str) -> list[Action]:
    """A cancel request and its answer (canceled or rejected), sometimes answered before it is asked, sometimes
    asked twice (a copy) or answered twice (the first answer counts)."""
    request = cancel(o, reason="test", event_id=f"creq-{tag}")
    update = rng.choice([ExecutionUpdate.CANCELED, ExecutionUpdate.CANCEL_REJECTED])
    pair: list[Action] = [("bus", request), ("bus", closing(o, update, exec_id=f"cans-{tag}", cancel_id=request.id))]
    if rng.random() < 0.3:
        pair.reverse()
    if rng.random() < 0.2:
        pair.append(("copy", request))
    if rng.random() < 0.2:
        pair.append(("bus", closing(o, ExecutionUpdate.CANCEL_REJECTED, exec_id=f"cans2-{tag}", cancel_id=request.id)))
    return pair


async def publish_actions(bus: JetStreamBus, nc: Client, settings: Settings, actions: list[Action]) -> None:
    """Publish what ``messy_run`` planned, in order (runs of normal publishes pipelined)."""
    run: list[Event] = []
    for how, what in [*actions, ("end", b"")]:
        if how == "bus" and isinstance(what, Event):
            run.append(what)
            continue
        if run:
            await bus.publish_many(run)
            run = []
        if how == "copy":
            await publish_raw(nc, settings, what)
        elif how.endswith("-bytes"):
            await publish_raw(nc, settings, what, kind=how.removesuffix("-bytes"))


async def hide_from_reader(database_url: str, table: str, insert: str) -> None:
    """Run ``insert`` as the configured user, then hide ``table``'s rows from the read-only role alone.

    A reader of the table then sees nothing while its owner still sees every row: a query that returns the rows
    did not connect as the reader.
    """
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(insert)
        await admin.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        await admin.execute(f"CREATE POLICY hidden_from_reader ON {table} USING (current_user <> '{READER}')")
        assert await admin.fetchval(f"SELECT count(*) FROM {table}") >= 1
    finally:
        await admin.close()
