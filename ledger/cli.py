"""``ingenium ledger``: migrate, serve (the projector), rebuild and query the ledger (a commands plugin)."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlmodel import SQLModel

from ingenium.cli.console import Verbose, console, fail, load_config, load_settings, run
from ingenium.config import Settings
from ingenium.errors import IngeniumError
from ingenium.stack import resolve_settings
from ingenium.telemetry import configure_logging, setup_telemetry
from ledger import queries, roles
from ledger.config import LedgerConfig
from ledger.database import require_database_url
from ledger.projector import Projector, tune_garbage_collector
from ledger.rebuild import rebuild as rebuild_ledger
from ledger.stack import prepare
from ledger.tables import LedgerAnomaly, LedgerFill, LedgerOrder, LedgerPosition, OrderStatus

ledger_app = typer.Typer(
    help="The ledger: project orders and executions into PostgreSQL, rebuild it, query it.", no_args_is_help=True
)


class Format(StrEnum):
    """How query results are printed."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class Source(StrEnum):
    """Where a rebuild reads the events from."""

    AUDIT = "audit"
    STREAMS = "streams"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output: table, csv or json.")]


def _settings() -> Settings:
    settings = resolve_settings(load_settings(), "ledger")
    try:
        require_database_url(settings)
    except IngeniumError as exc:
        fail(str(exc))
    return settings


def _database_url() -> str:
    """Where the query commands read: as the read-only role, unless the configured user may not make it."""
    url = require_database_url(_settings())
    return run(roles.ensure_reader(url)) or url


@ledger_app.command()
def migrate() -> None:
    """Create or upgrade the ledger's tables (alembic migrations)."""
    settings = _settings()
    revision = run(prepare(settings))
    console.print(f"ledger tables at revision {revision}", highlight=False)


@ledger_app.command()
def serve(
    starting_cash: Annotated[
        str | None, typer.Option(help="Opening cash balance (default: INGENIUM_LEDGER_STARTING_CASH or 100000).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Project the order and execution streams into the ledger until SIGINT/SIGTERM."""
    settings = _settings()
    config = _config(starting_cash)
    configure_logging()
    try:
        setup_telemetry("ingenium-ledger")
    except IngeniumError as exc:
        fail(str(exc))

    async def go() -> Projector:
        await prepare(settings, verbose=verbose)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        projector = Projector(settings, config)
        tune_garbage_collector(config)
        console.print(
            f"ledger: projecting {projector.streams.order} and {projector.streams.execution} "
            f"into {projector.database_url} (Ctrl-C to stop)", highlight=False,
        )
        await projector.run(stop)
        return projector

    projector = run(go())
    done = ", ".join(f"{stream} at {seq}" for stream, seq in projector.checkpoints.items()) or "nothing projected"
    console.print(f"ledger: stopped; checkpoints {done}", highlight=False)


def _config(starting_cash: str | None = None) -> LedgerConfig:
    """The ledger's settings from ``INGENIUM_LEDGER_*``; one line naming the variable when one is invalid."""
    cash = None
    if starting_cash is not None:
        try:
            cash = Decimal(starting_cash)
        except InvalidOperation:
            fail(f"--starting-cash {starting_cash!r} is not a decimal number")
    return load_config(LedgerConfig, starting_cash=cash)


@ledger_app.command()
def rebuild(
    source: Annotated[
        Source, typer.Option(help="Replay the audit trail, or the streams from sequence 1.")
    ] = Source.AUDIT,
    check: Annotated[bool, typer.Option(help="Only compare a rebuild with the tables; change nothing.")] = False,
    lock_wait: Annotated[float, typer.Option(help="Seconds to wait for a running projector to stop.")] = 10.0,
) -> None:
    """Recompute every projection from the audit trail or the streams, in one transaction."""
    settings = _settings()
    config = _config()
    report = run(rebuild_ledger(settings, source=source.value, check=check, lock_wait=lock_wait, config=config))
    replayed = ", ".join(f"{n} from {stream}" for stream, n in report.events.items())
    console.print(f"rebuilt from the {report.source}: {replayed} events", highlight=False)
    if report.changed:
        verb = "would change" if check else "changed"
        message = f"{verb}: {', '.join(report.changed)} (the tables differed from a rebuild)"
        if check:
            fail(message)
        console.print(message, highlight=False)
    else:
        console.print("every table equals the rebuild, byte for byte", highlight=False)


@ledger_app.command()
def positions(output: FormatOption = Format.TABLE) -> None:
    """Show the net position per symbol, with average price, realized PnL and commissions."""
    _print(run(queries.positions(_database_url())), LedgerPosition, output, "positions")


@ledger_app.command()
def orders(
    status: Annotated[OrderStatus | None, typer.Option(help="Only orders in this status.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Only orders for this symbol (any case).")] = None,
    output: FormatOption = Format.TABLE,
) -> None:
    """Show orders with their status, filled quantity and average price, oldest first."""
    _print(run(queries.orders(_database_url(), status=status, symbol=symbol)), LedgerOrder, output, "orders")


@ledger_app.command()
def fills(
    symbol: Annotated[str | None, typer.Option(help="Only fills of this symbol (any case).")] = None,
    since: Annotated[str | None, typer.Option(help="From this time (ISO 8601; UTC unless it has an offset).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (ISO 8601; UTC unless it has an offset).")] = None,
    output: FormatOption = Format.TABLE,
) -> None:
    """Show fills in execution order (the trade history)."""
    start, end = _time("--since", since), _time("--until", until)
    _print(run(queries.fills(_database_url(), symbol=symbol, since=start, until=end)), LedgerFill, output, "fills")


@ledger_app.command()
def anomalies(output: FormatOption = Format.TABLE) -> None:
    """Show the overfills, side or symbol mismatches and executions of unknown orders the ledger recorded."""
    _print(run(queries.anomalies(_database_url())), LedgerAnomaly, output, "anomalies")


def _time(option: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date or time, e.g. 2024-03-01 or 2024-03-01T14:30:00Z")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def plain(value: Decimal) -> str:
    """A decimal as people write it: ``100000``, never ``1.0E+5`` (what PostgreSQL's NUMERIC often comes back as)."""
    return format(value, "f")


def _json(value: Any) -> Any:
    """One value as JSON: money and quantities as exact plain-decimal strings, times in ISO 8601."""
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _cell(value: Any) -> str:
    """One value as table or CSV text: the JSON form, with nothing for a null."""
    if value is None:
        return ""
    return str(_json(value))


def _print(rows: Sequence[SQLModel], model: type[SQLModel], output: Format, what: str) -> None:
    """Print typed rows as a table, CSV (a header even with no rows) or JSON, every value formatted by ``_json``."""
    records = [row.model_dump() for row in rows]
    columns = list(model.model_fields)
    if output is Format.JSON:
        sys.stdout.write(json.dumps([{k: _json(v) for k, v in r.items()} for r in records], indent=2) + "\n")
    elif output is Format.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_cell(r[c]) for c in columns] for r in records])
    elif not records:
        console.print(f"no {what}")
    else:
        table = Table(*columns, title=f"ledger {what}", title_justify="left")
        for record in records:
            table.add_row(*(_cell(record[c]) for c in columns))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``ledger`` commands to the ingenium CLI."""
    app.add_typer(ledger_app, name="ledger")
