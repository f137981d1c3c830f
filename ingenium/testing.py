"""A test kit for Ingenium and for users' own components: real servers, event factories, ``eventually``, ``drive``.

Use it from a ``conftest.py`` with ``pytest_plugins = ["ingenium.testing"]``. Each test gets its own
nats-server on a free port and its own PostgreSQL database; with ``INGENIUM_NATS_URL`` /
``INGENIUM_DATABASE_URL`` set, tests use those servers instead, isolated by a per-test namespace and database.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.api import RawStreamMsg as RawStreamMessage
from nats.js.errors import NotFoundError

from ingenium.bus import JetStreamBus
from ingenium.component import HANDLERS, SHARED_HANDLERS, Component, Emitted, Handler
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats, EmbeddedPostgres
from ingenium.events import (
    CancelRequest,
    DataEvent,
    DataType,
    Event,
    ExecutionEvent,
    ExecutionUpdate,
    Ohlc,
    OrderEvent,
    OrderType,
    Quote,
    Side,
    SignalEvent,
    SignalType,
    Trade,
)
from ingenium.ids import new_id
from ingenium.streams import ensure_streams
from ingenium.subjects import StreamKey

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


# ----------------------------------------------------------------------------- waiting
async def eventually(
    condition: Callable[[], object | Awaitable[object]], timeout: float = 15.0, interval: float = 0.02
) -> object:
    """Poll ``condition`` (sync or async) until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = condition()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


# ----------------------------------------------------------------------------- event factories
def bar(
    symbol: str = "aapl",
    close: Decimal | str | int = "100",
    *,
    start: datetime = T0,
    minutes: int = 0,
    open: Decimal | str | int | None = None,
    volume: Decimal | str | int = "1000",
    event_id: str | None = None,
) -> DataEvent:
    """A one-minute OHLC bar whose high/low bracket open and close."""
    c = Decimal(close)
    o = Decimal(open) if open is not None else c
    when = start + timedelta(minutes=minutes)
    return DataEvent(
        id=event_id or new_id("data"),
        timestamp=when + timedelta(minutes=1),
        symbol=symbol,
        ohlc=Ohlc(open=o, high=max(o, c), low=min(o, c), close=c, volume=Decimal(volume), period="1m",
                  timestamp=when),
    )


def trade(symbol: str = "aapl", price: Decimal | str | int = "100", size: Decimal | str | int = "10", *,
          at: datetime = T0, trade_id: str | None = None) -> DataEvent:
    """A trade event (``data.type.trade``) at ``at``."""
    return DataEvent(id=new_id("data"), timestamp=at, type=DataType.TRADE, symbol=symbol,
                     trade=Trade(price=Decimal(price), size=Decimal(size), timestamp=at, id=trade_id))


def quote(symbol: str = "aapl", bid: Decimal | str | int = "99.9", ask: Decimal | str | int = "100.1", *,
          size: Decimal | str | int = "5", at: datetime = T0) -> DataEvent:
    """A quote event (``data.type.quote``) at ``at``, the same size on both sides."""
    return DataEvent(id=new_id("data"), timestamp=at, type=DataType.QUOTE, symbol=symbol, quote=Quote(
        bid_price=Decimal(bid), bid_size=Decimal(size), ask_price=Decimal(ask), ask_size=Decimal(size), timestamp=at))


def signal(symbol: str = "aapl", direction: SignalType = SignalType.LONG, *, strategy_id: str = "test",
           price: Decimal | str | None = None, event_id: str | None = None) -> SignalEvent:
    """A signal event."""
    return SignalEvent(id=event_id or new_id("signal"), timestamp=T0, symbol=symbol, signal=direction,
                       strategy_id=strategy_id, price=Decimal(price) if price is not None else None)


def order(symbol: str = "aapl", side: Side = Side.BUY, quantity: Decimal | str | int = "10", *,
          order_type: OrderType = OrderType.MARKET, limit_price: Decimal | str | None = None,
          strategy_id: str = "test", event_id: str | None = None) -> OrderEvent:
    """An order event."""
    return OrderEvent(id=event_id or new_id("order"), timestamp=T0, symbol=symbol, side=side,
                      quantity=Decimal(quantity), type=order_type,
                      limit_price=Decimal(limit_price) if limit_price is not None else None,
                      strategy_id=strategy_id)


def cancel(of: OrderEvent | str, *, reason: str | None = None, requested_by: str = "test",
           event_id: str | None = None) -> CancelRequest:
    """A request to cancel order ``of`` (an order event or its id)."""
    return CancelRequest(id=event_id or new_id("cancel"), timestamp=T0,
                         order_id=of if isinstance(of, str) else of.id, reason=reason, requested_by=requested_by)


def fill(of: OrderEvent, quantity: Decimal | str | int, price: Decimal | str | int, *,
         cum_quantity: Decimal | str | int | None = None, commission: Decimal | str | int = "0",
         update: ExecutionUpdate | None = None, exec_id: str | None = None) -> ExecutionEvent:
    """An execution filling ``quantity`` of order ``of`` at ``price`` (``filled`` once cumulative = order)."""
    qty = Decimal(quantity)
    cum = Decimal(cum_quantity) if cum_quantity is not None else qty
    upd = update or (ExecutionUpdate.FILLED if cum >= of.quantity else ExecutionUpdate.PARTIAL_FILL)
    eid = exec_id or new_id("exec")
    return ExecutionEvent(id=eid, timestamp=T0, execution_timestamp=T0, order_id=of.id, symbol=of.symbol,
                          quantity=qty, price=Decimal(price), update=upd, exec_id=eid, side=of.side,
                          cum_quantity=cum, leaves_quantity=of.quantity - cum, commission=Decimal(commission))


# ----------------------------------------------------------------------------- driving one component
#: The handler of each event type, as the runtime routes them (``on_cancel`` rides the order stream).
_HANDLER_OF: dict[type[Event], str] = {
    **{event_type: method for method, event_type in HANDLERS.values()},
    **{event_type: method for shared in SHARED_HANDLERS.values() for _, method, event_type in shared},
}


def _method(event: Event) -> str:
    method = _HANDLER_OF.get(type(event))
    if method is None:
        raise TypeError(f"no handler takes a {type(event).__name__}")
    return method


def _call(component: Component, event: Event) -> Emitted | Awaitable[Emitted]:
    """Call ``event``'s handler with the ids it causes derived from it, as the runtime does.

    A data event of a type the component does not ask for (``data_types``) is skipped, as the runtime skips it.
    """
    handler: Handler = getattr(component, _method(event))
    if isinstance(event, DataEvent) and not component.wants_data(event):
        return None
    component.begin(event)
    return handler(event)


def drive(component: Component, *events: Event) -> list[Event]:
    """Hand ``events`` to ``component``'s handlers in order, as the runtime does; return everything emitted.

    Each event goes to its handler (``on_data`` for a ``DataEvent`` …) with the ids it causes derived from it, and
    what the handler published and returned is collected, in that order, over all events. No bus is involved:
    ``drive(SmaCross(fast=2, slow=3), *bars)`` is a strategy's unit test. Async handlers need ``drive_async``.
    """
    for method in {_method(event) for event in events}:
        if inspect.iscoroutinefunction(getattr(type(component), method)):
            raise TypeError(f"{type(component).__name__}.{method} is async; use drive_async")
    # The handlers are sync (checked above), so what they return is never awaitable.
    return [out for event in events for out in component.collect(cast(Emitted, _call(component, event)))]


async def drive_async(component: Component, *events: Event) -> list[Event]:
    """``drive`` for components with async handlers (sync ones are called as they are)."""
    emitted: list[Event] = []
    for event in events:
        returned = _call(component, event)
        emitted.extend(component.collect(await returned if inspect.isawaitable(returned) else returned))
    return emitted


# ----------------------------------------------------------------------------- lanes
#: The marker of tests that start a real nats-server or PostgreSQL; ``pytest -m "not servers"`` is the fast lane.
SERVERS = "servers"
#: Fixtures that start a server (or reach the one the environment names): using one, directly or through
#: another fixture such as ``bus`` or ``database_url``, puts a test in the servers lane.
SERVER_FIXTURES = frozenset({"nats_url", "postgres_server"})
#: Marks of suites that start servers of their own.
SERVER_MARKS = frozenset({"cluster", "deploy"})
#: Programs a fast-lane test may not start: the servers themselves.
SERVER_PROGRAMS = frozenset({"nats-server", "postgres", "postmaster", "pg_ctl", "initdb"})
#: The ingenium commands that start embedded servers of their own, in a child process the guard cannot see into.
SERVER_COMMANDS = frozenset({"up", "demo"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``servers`` marker (for users of the plugin; this repository's pyproject lists it too)."""
    config.addinivalue_line("markers", f"{SERVERS}: starts a real nats-server or PostgreSQL (applied automatically "
                                       "to tests using the server fixtures; -m 'not servers' is the fast lane)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture, or belongs to a suite that starts servers, ``servers``."""
    for item in items:
        uses = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if uses or any(item.get_closest_marker(mark) for mark in SERVER_MARKS):
            item.add_marker(SERVERS)


def server_program(args: Any) -> str | None:
    """The server a ``subprocess.Popen`` argument would start (``ingenium up`` …), if it would."""
    # One program or a shell command line, or an argument list.
    argv = os.fsdecode(args).split() if isinstance(args, str | bytes | os.PathLike) else [os.fsdecode(a) for a in args]
    if not argv:
        return None
    name = Path(argv[0]).name
    if name in SERVER_PROGRAMS:
        return name
    if name == "ingenium":
        rest = argv[1:]
    elif argv[1:3] == ["-m", "ingenium"]:
        rest = argv[3:]
    else:
        return None
    command = next((word for word in rest if not word.startswith("-")), None)
    return f"ingenium {command}" if command in SERVER_COMMANDS else None


@pytest.fixture(autouse=True)
def _fast_lane_starts_no_server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a test outside the servers lane, starting a server (or an ingenium command) fails the test, saying why."""
    if request.node.get_closest_marker(SERVERS):
        return
    start = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[bytes], args: Any, *more: Any, **options: Any) -> None:
        program = server_program(args)
        if program is not None:
            pytest.fail(f"{request.node.nodeid} starts {program} but is in the fast lane: use the server fixtures "
                        f"(nats_url, bus, database_url …) or mark it @pytest.mark.{SERVERS}")
        start(self, args, *more, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


# ----------------------------------------------------------------------------- servers
def _external(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """URL of a NATS server for this test: a fresh embedded one, or ``INGENIUM_NATS_URL``."""
    external = _external("INGENIUM_NATS_URL")
    if external:
        yield external
        return
    server = EmbeddedNats(tmp_path / "nats")
    yield server.start()
    server.stop()


@pytest.fixture
def namespace() -> str:
    """Empty (the real subject names) on a private server; unique per test on a shared one."""
    return f"t{uuid.uuid4().hex[:10]}" if _external("INGENIUM_NATS_URL") else ""


@pytest.fixture
def settings(nats_url: str, namespace: str, tmp_path: Path) -> Settings:
    """Settings for this test's NATS, with quick retries so failure paths finish fast."""
    return Settings(
        nats_url=nats_url,
        namespace=namespace,
        data_dir=tmp_path / "data",
        retry_backoff_seconds=0.05,
        ack_wait_seconds=5,
        max_attempts=3,
    )


@pytest_asyncio.fixture
async def nc(settings: Settings) -> AsyncIterator[Client]:
    """A connection to this test's NATS with Ingenium's streams created."""
    client = await connect_nats(settings, name="test")
    await ensure_streams(client.jetstream(), settings)
    yield client
    await client.drain()


@pytest_asyncio.fixture
async def bus(nc: Client, settings: Settings) -> JetStreamBus:
    """A JetStream bus on this test's server and namespace."""
    return JetStreamBus(nc, settings.subjects)


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the PostgreSQL server for this session: ``INGENIUM_DATABASE_URL`` or one embedded server."""
    external = _external("INGENIUM_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    yield server.start()
    server.stop()


@pytest_asyncio.fixture
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    name = f"ingenium_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield with_database(postgres_server, name)
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def db_settings(settings: Settings, database_url: str) -> Settings:
    """``settings`` with this test's database."""
    return settings.model_copy(update={"database_url": database_url})


# ----------------------------------------------------------------------------- processes
def settings_env(settings: Settings) -> dict[str, str]:
    """Environment variables that give a child process the same settings."""
    env = dict(os.environ)
    for field, value in settings.model_dump(exclude_none=True).items():
        env[f"INGENIUM_{field.upper()}"] = str(value)
    return env


def spawn(args: list[str], settings: Settings, *, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m ingenium ARGS`` as a real child process with ``settings`` in its environment."""
    command = [sys.executable, "-m", "ingenium", *args]
    if log is None:
        return subprocess.Popen(command, env=settings_env(settings), stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, env=settings_env(settings), stdout=out, stderr=subprocess.STDOUT)


# ----------------------------------------------------------------------------- reading streams back
async def stream_messages(nc: Client, settings: Settings, key: StreamKey) -> list[RawStreamMessage]:
    """Every message stored on one stream, in order (direct gets; for tests and small streams)."""
    js = nc.jetstream()
    name = settings.subjects.stream(key)
    info = await js.stream_info(name)
    out = []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            out.append(await js.get_msg(name, seq))
        except NotFoundError:
            continue
    return out


async def stream_events(nc: Client, settings: Settings, key: StreamKey) -> list[Event]:
    """Every event on one stream, parsed (cancel requests on the order stream as ``CancelRequest``)."""
    model = HANDLERS[key][1] if key != "deadletter" else None
    if model is None:
        raise ValueError("dead letters are raw messages: use stream_messages")
    shared = {settings.subjects.kind_subject(kind): m for kind, _, m in SHARED_HANDLERS.get(key, ())}
    return [shared.get(m.subject or "", model).model_validate_json(m.data or b"")
            for m in await stream_messages(nc, settings, key)]
