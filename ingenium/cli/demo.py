"""``ingenium demo``: the whole trading loop on the sample data, into a fresh ledger, with a summary."""

from __future__ import annotations

import time
import warnings
from decimal import Decimal
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingenium.cli.console import Verbose, console, fail, load_settings, run
from ingenium.errors import IngeniumError
from ingenium.stack import start_stack
from ingenium.telemetry import configure_logging, setup_telemetry


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}" if value is not None else "-"


def _qty(value: Any) -> str:
    return f"{Decimal(value).normalize():f}" if value is not None else "-"


def demo(verbose: Verbose = False) -> None:
    """Run ingestor, SMA strategy, portfolio, paper executor and ledger on the sample data; print a summary."""
    from services.demo import EXECUTOR_PARAMS, PORTFOLIO_PARAMS, STRATEGY_PARAMS, DemoResult, psql_command, run_demo

    if verbose:
        configure_logging("INFO")
    else:  # platformdirs warns, on pgserver's import, that XDG_RUNTIME_DIR is unset (common in containers)
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    settings = load_settings()
    try:  # as every command that runs components: traces, metrics and logs as the OTEL_* variables say
        setup_telemetry("ingenium-demo")
    except IngeniumError as exc:
        fail(str(exc))
    started = time.monotonic()
    with console.status("Starting NATS and PostgreSQL (embedded where no INGENIUM_* URL is set)…"):
        try:
            stack = start_stack(settings, nats_port=-1, quiet=not verbose)
        except Exception as exc:
            fail(f"cannot start the local stack: {exc}")
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:
            tasks: dict[str, Any] = {}
            labels = {"reset": "Resetting the demo namespace and ledger", "replay": "Replaying the sample day",
                      "ledger": "Waiting for the ledger"}

            def report(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task(labels.get(phase, phase), total=total or 1)
                progress.update(tasks[phase], completed=done, total=total or 1)

            result: DemoResult = run(run_demo(stack.settings, progress=report))
    finally:
        stack.stop()
    elapsed = time.monotonic() - started

    orders = sum(result.orders_by_status.values())
    statuses = ", ".join(f"{n} {s}" for s, n in result.orders_by_status.items()) or "none"
    console.print(f"\n[bold]Ingenium demo[/]: {result.bars} bars of the sample day through the live loop in "
                  f"{elapsed:.1f}s", highlight=False)
    for name, params in (("SmaCross", STRATEGY_PARAMS), ("RiskPortfolio", PORTFOLIO_PARAMS),
                         ("PaperExecutor", EXECUTOR_PARAMS)):
        console.print(f"  {name:<14} " + ", ".join(f"{k}={v}" for k, v in params.items()), highlight=False)
    console.print()
    console.print(f"[bold]{orders}[/] orders ({statuses}); [bold]{result.fills}[/] fills, of which "
                  f"[bold]{result.partial_fills}[/] partial fills")

    positions = Table("symbol", "quantity", "avg price", "realized PnL", "commissions", "fills",
                      title="Positions (ledger_positions)", title_justify="left")
    for p in result.positions:
        positions.add_row(p["symbol"], _qty(p["quantity"]), _money(p["average_price"]), _money(p["realized_pnl"]),
                          _money(p["commissions"]), str(p["fills"]))
    console.print(positions)

    recent = Table("order", "symbol", "side", "qty", "status", "filled", "avg price", "commission",
                   title="Latest orders (ledger_orders)", title_justify="left")
    for o in result.recent_orders:
        recent.add_row(f"#{o['stream_sequence']}", o["symbol"], o["side"], _qty(o["quantity"]),
                       o["status"], _qty(o["filled_quantity"]), _money(o["average_price"]), _money(o["commission"]))
    console.print(recent)

    realized = sum((Decimal(p["realized_pnl"]) for p in result.positions), Decimal(0))
    cash = result.cash
    console.print(
        f"Realized PnL [bold]{_money(realized)}[/] · commissions {_money(cash.get('commissions'))} · "
        f"cash {_money(cash.get('starting_balance'))} → [bold]{_money(cash.get('balance'))}[/]"
    )
    if result.agrees:
        console.print("[green]✓[/] the portfolio's own positions and cash equal the ledger's")
    else:
        console.print(f"[red]✗ the portfolio and the ledger disagree:[/] {'; '.join(result.disagreements)}")

    url = result.settings.database_url or ""
    lines = [
        "",
        "[bold]Query the ledger in SQL[/] (the servers stopped with the demo: start them with [cyan]ingenium up[/]):",
        f"  {psql_command(url)}",
        "  SELECT symbol, side, quantity, price, commission, executed_at FROM ledger_fills ORDER BY stream_sequence;",
        "  SELECT status, count(*), sum(filled_quantity) FROM ledger_orders GROUP BY status;",
        "  SELECT symbol, quantity, average_price, realized_pnl FROM ledger_positions;",
        "",
        "[bold]Open the demo's ledger in the web UI[/] (with [cyan]ingenium up[/] running), then browse "
        "http://127.0.0.1:8080/:",
        f"  INGENIUM_NAMESPACE={result.settings.namespace} INGENIUM_DATABASE_URL='{url}' ingenium web",
        "",
        "[bold]Run the stack yourself[/], one command per terminal:",
        "  ingenium up",
        "  ingenium ledger serve",
        "  ingenium run services.strategies.sma_cross:SmaCross -p fast=10 -p slow=30",
        "  ingenium run services.portfolio.portfolio:RiskPortfolio -p sizing=notional -p notional=10000",
        "  ingenium run services.executor.paper:PaperExecutor -p max_fill_quantity=60 -p slippage_bps=2",
        "  ingenium ingest synthetic --symbols ACME,GLOBEX --speed 60      [dim]# or: ingenium ingest file bars.csv[/]",
        "",
        f"[dim]Each demo run first resets the namespace '{result.settings.namespace}' (its streams, consumers and "
        "executor bucket) and drops and recreates its database; live streams and other databases are untouched.[/]",
    ]
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ingenium CLI."""
    app.command("demo")(demo)
