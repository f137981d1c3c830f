"""``ingenium up``: the local stack (embedded NATS and PostgreSQL where no URL is set) until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from ingenium.cli.console import Verbose, console, fail, interrupted, load_settings, run
from ingenium.connection import connect_nats
from ingenium.errors import StackAlreadyRunning
from ingenium.stack import start_stack
from ingenium.streams import ensure_streams
from ingenium.telemetry import configure_logging, describe_telemetry


def up(
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (-1: any free port).")] = 4222,
    verbose: Verbose = False,
) -> None:
    """Start the local stack (embedded NATS and PostgreSQL where no URL is set) and run until Ctrl-C."""
    settings = load_settings()
    if verbose:
        configure_logging("INFO")
    try:
        stack = start_stack(settings, nats_port=nats_port, quiet=not verbose)
    except StackAlreadyRunning as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
    except Exception as exc:
        fail(f"{exc}; set INGENIUM_NATS_URL / INGENIUM_DATABASE_URL to use running servers instead")
    configured = settings.nats_url and settings.database_url  # then `up` only prepares streams and tables
    if not configured and not stack.started:  # the stack of this data dir serves already: never start a second
        fail(f"a stack is already running on {settings.data_dir}: NATS {stack.settings.nats_url}, "
             f"PostgreSQL {stack.settings.database_url}; use it as it is, or set INGENIUM_DATA_DIR to another "
             "directory")

    async def serve() -> None:
        nc = await connect_nats(stack.settings, name="ingenium-up")
        try:
            await ensure_streams(nc.jetstream(), stack.settings)
        finally:
            await nc.drain()
        from ingenium.cli import ledger as ledger_cli  # the ledger owns its schema and migrations

        await ledger_cli.prepare(stack.settings, verbose=verbose)
        if stack.took_over:
            console.print(stack.took_over, highlight=False)
        console.print(f"NATS       {stack.settings.nats_url}", highlight=False)
        if stack.settings.nats_monitor_url:
            console.print(f"monitoring {stack.settings.nats_monitor_url}", highlight=False)
        console.print(f"PostgreSQL {stack.settings.database_url}", highlight=False)
        console.print(f"data dir   {stack.settings.data_dir}", highlight=False)
        console.print(describe_telemetry("ingenium"), highlight=False)
        console.print("Streams created. `ingenium status` shows what runs. Press Ctrl-C to stop.", highlight=False)
        stop = asyncio.Event()
        # SIGTERM (a service manager, `kill`) must stop the embedded servers as Ctrl-C does.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        console.print("stopping the stack", highlight=False)

    try:
        run(serve())
    finally:
        stack.stop()


def register(app: typer.Typer) -> None:
    """Add ``up`` to the root app."""
    app.command("up")(up)
