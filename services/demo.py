"""The demo behind ``make demo``: the whole loop on the sample data, into a fresh ledger, then a summary.

Each run uses the namespace ``demo`` and the database ``ingenium_demo`` and resets both first (the demo's
streams, consumers and key-value bucket are deleted, the database dropped and recreated), so a second run
starts as clean as the first while live streams and other databases are untouched.

The sample day is replayed minute by minute: a minute's bars are published once the loop has finished reacting
to the previous minute, so every fill happens at the price of the minute that caused it, as it would in real
time, and two runs give the same trades.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, NotFoundError

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.runtime import Runner
from ingenium.streams import ensure_streams
from ingenium.subjects import STREAM_KEYS
from ledger.config import LedgerConfig
from ledger.database import connect
from ledger.migrate import upgrade
from ledger.projector import Projector
from services.data import SAMPLE_FILE
from services.executor import PaperExecutor
from services.executor.orderlog import bucket_name
from services.ingestors import HistoricalIngestor
from services.portfolio import RiskPortfolio
from services.settle import busy_consumers, consumers_of, finish, ledger_lag, wait_until
from services.strategies import SmaCross

NAMESPACE = "demo"
DATABASE = "ingenium_demo"
STARTING_CASH = Decimal(100_000)

#: The components of the demo, as `ingenium run` would start them.
STRATEGY_PARAMS: dict[str, Any] = {"fast": 10, "slow": 30}
PORTFOLIO_PARAMS: dict[str, Any] = {"cash": STARTING_CASH, "sizing": "notional", "notional": Decimal(10_000)}
EXECUTOR_PARAMS: dict[str, Any] = {
    "max_fill_quantity": Decimal(60), "slippage_bps": Decimal(2), "commission_per_share": Decimal("0.005"),
}


@dataclass
class DemoResult:
    """What the demo did, read back from the ledger."""

    settings: Settings
    bars: int
    orders_by_status: dict[str, int]
    fills: int
    partial_fills: int
    positions: list[dict[str, Any]]
    cash: dict[str, Any]
    recent_orders: list[dict[str, Any]]
    agrees: bool
    disagreements: list[str] = field(default_factory=list)


def database_url_for(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def reset(nc: Client, settings: Settings, server_url: str) -> None:
    """Delete the demo namespace's streams and executor bucket; drop and recreate the demo database."""
    js = nc.jetstream()
    for key in STREAM_KEYS:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(settings.subjects.stream(key))
    with contextlib.suppress(NotFoundError, BucketNotFoundError):
        await js.delete_key_value(bucket_name(settings.subjects, "paper_executor"))
    admin = await connect(server_url, application_name="ingenium-demo")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()


async def run_demo(stack_settings: Settings, *, progress: Callable[[str, int, int], None] | None = None) -> DemoResult:
    """Run the loop on the sample data against ``stack_settings``' servers and summarise the ledger.

    Args:
        stack_settings: Settings with ``nats_url`` and ``database_url`` of running servers.
        progress: Called with (phase, done, total) as the demo advances.

    """
    assert stack_settings.nats_url and stack_settings.database_url, "start the stack first"
    settings = stack_settings.model_copy(
        update={"namespace": NAMESPACE, "database_url": database_url_for(stack_settings.database_url, DATABASE)}
    )
    report = progress or (lambda phase, done, total: None)
    nc = await connect_nats(settings, name="ingenium-demo")
    stop = asyncio.Event()
    ledger_task: asyncio.Task[None] | None = None
    tasks: list[asyncio.Task[None]] = []
    runners: list[Runner] = []
    try:
        report("reset", 0, 1)
        await reset(nc, settings, stack_settings.database_url)
        assert settings.database_url is not None
        await asyncio.to_thread(upgrade, settings.database_url)
        js = nc.jetstream()
        await ensure_streams(js, settings)
        projector = Projector(settings, LedgerConfig(starting_cash=STARTING_CASH))
        ledger_task = asyncio.create_task(projector.run(stop), name="ledger")
        strategy = SmaCross(**STRATEGY_PARAMS)
        portfolio = RiskPortfolio(**PORTFOLIO_PARAMS)
        executor = PaperExecutor(**EXECUTOR_PARAMS)
        components: list[Component] = [strategy, portfolio, executor]
        for component in components:
            runner = Runner(component, settings, nc=nc)
            runners.append(runner)
            tasks.append(asyncio.create_task(runner.run(), name=component.name))
            await _ready(runner, tasks[-1])
        await asyncio.wait_for(projector.active.wait(), timeout=30)
        report("reset", 1, 1)
        consumers = consumers_of(components)

        async def settle(_: datetime) -> None:
            await wait_until(lambda: busy_consumers(js, settings.subjects, consumers), within=30,
                             what="the trading loop")

        loader = HistoricalIngestor(path=SAMPLE_FILE)
        loader.pace = settle
        loader.progress = lambda done, total: report("replay", done, total)
        await Runner(loader, settings, nc=nc).run()
        bars = loader.result.published if loader.result else 0
        conn = await connect(settings.database_url, application_name="ingenium-demo")
        try:
            await wait_until(lambda: ledger_lag(js, settings.subjects, conn), within=30, what="the ledger")
            result = await summarise(conn, settings, bars, portfolio)
        finally:
            await conn.close()
        report("ledger", 1, 1)
        return result
    finally:
        stop.set()
        for runner in runners:
            runner.stop()
        results: list[BaseException | None] = list(await asyncio.gather(*tasks, return_exceptions=True))
        if ledger_task is not None:
            results.append(await finish(ledger_task))
        await nc.drain()
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome


async def _ready(runner: Runner, task: asyncio.Task[None]) -> None:
    """Wait until a runner consumes, or re-raise why it stopped."""
    ready = asyncio.create_task(runner.ready.wait())
    await asyncio.wait([ready, task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        task.result()
    if not ready.done():
        ready.cancel()
        raise TimeoutError(f"{runner.component.name} did not start within 30s")


async def summarise(conn: asyncpg.Connection, settings: Settings, bars: int, portfolio: RiskPortfolio) -> DemoResult:
    """Read the summary from the ledger's tables and compare it with the portfolio's own book."""
    statuses = {r["status"]: r["n"] for r in await conn.fetch(
        "SELECT status, count(*) AS n FROM ledger_orders GROUP BY status ORDER BY status")}
    fills = await conn.fetchval("SELECT count(*) FROM ledger_fills")
    partial = await conn.fetchval(
        "SELECT count(*) FROM ledger_events WHERE event_type = 'execution' AND NOT duplicate "
        "AND payload->>'Update' = 'partial_fill'"
    )
    positions = [dict(r) for r in await conn.fetch(
        "SELECT symbol, quantity, average_price, realized_pnl, commissions, fills FROM ledger_positions "
        "ORDER BY symbol")]
    cash = dict(await conn.fetchrow("SELECT starting_balance, balance, commissions FROM ledger_cash LIMIT 1") or {})
    recent = [dict(r) for r in await conn.fetch(
        "SELECT stream_sequence, symbol, side, quantity, status, filled_quantity, average_price, commission "
        "FROM ledger_orders ORDER BY stream_sequence DESC LIMIT 8")]
    disagreements = []
    ledger_quantities = {p["symbol"]: p["quantity"] for p in positions}
    for symbol, held in portfolio.book.positions.items():
        if held.quantity != ledger_quantities.get(symbol, Decimal(0)):
            disagreements.append(f"{symbol}: portfolio {held.quantity}, ledger {ledger_quantities.get(symbol)}")
    if cash and portfolio.book.cash != cash["balance"]:
        disagreements.append(f"cash: portfolio {portfolio.book.cash}, ledger {cash['balance']}")
    return DemoResult(settings, bars, statuses, fills, partial, positions, cash, recent, not disagreements,
                      disagreements)


def psql_command(url: str) -> str:
    """A psql command line for ``url``, using pgserver's psql when there is no psql on PATH."""
    import shutil

    psql = shutil.which("psql")
    if psql is None:
        with contextlib.suppress(ImportError):
            import pgserver

            candidate = Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql"
            if candidate.exists():
                psql = str(candidate)
    return f'{psql or "psql"} "{url}"'
