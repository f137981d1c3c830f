"""``ingenium up``: the local stack (embedded NATS and PostgreSQL where no URL is set) until Ctrl-C.

Installed packages add to the stack through the ``ingenium.stack`` entry-point group (the ledger migrates its
tables, the web UI serves its pages): each add-on is started, in name order, once the streams exist, may print
lines beside the servers' URLs, and is stopped, in reverse order, before the servers.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Protocol

import typer

from ingenium import plugins
from ingenium.cli.console import Verbose, console, err_console, fail, interrupted, load_settings, run
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import StackAlreadyRunning
from ingenium.stack import start_stack
from ingenium.streams import ensure_streams
from ingenium.telemetry import configure_logging, describe_telemetry


class StackAddon(Protocol):
    """What an ``ingenium.stack`` entry point's class makes: something ``ingenium up`` runs with the servers."""

    async def start(self, settings: Settings, *, verbose: bool) -> list[str]:
        """Start with the stack's settings; return lines to print beside the servers' (an error stops ``up``)."""
        ...

    async def stop(self) -> None:
        """Stop, before the servers do."""
        ...


def _addons() -> list[StackAddon]:
    """One add-on of each installed ``ingenium.stack`` entry point; one that cannot load is reported in one line."""
    found = []
    for entry in plugins.entry_points(plugins.STACK):
        try:
            found.append(entry.load()())
        except Exception as exc:  # a broken add-on must not keep the stack from starting
            err_console.print(f"[bold red]error:[/] cannot load stack add-on {entry.name!r} ({entry.value}): "
                              f"{exc.__class__.__name__}: {exc}", highlight=False, soft_wrap=True)
    return found


def up(
    nats_port: Annotated[int, typer.Option(help="Port of the embedded nats-server (-1: any free port).")] = 4222,
    secure: Annotated[bool, typer.Option(
        help="One NATS user per component kind with the permissions of its job; seeds in <data dir>/credentials."
    )] = False,
    verbose: Verbose = False,
) -> None:
    """Start the local stack (embedded NATS and PostgreSQL where no URL is set) and run until Ctrl-C."""
    settings = load_settings()
    if verbose:
        configure_logging("INFO")
    try:
        stack = start_stack(settings, nats_port=nats_port, quiet=not verbose, secure=secure)
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
        started: list[StackAddon] = []
        try:
            lines: list[str] = []
            for addon in _addons():
                lines += await addon.start(stack.settings, verbose=verbose)
                started.append(addon)
            await ready(lines)
        finally:
            for addon in reversed(started):
                await addon.stop()

    async def ready(lines: list[str]) -> None:
        stop = asyncio.Event()
        # SIGTERM (a service manager, `kill`) must stop the embedded servers as Ctrl-C does. Installed before the
        # ready line, so a Ctrl-C right after it is a stop like any other.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if stack.took_over:
            console.print(stack.took_over, highlight=False)
        console.print(f"NATS       {stack.settings.nats_url}", highlight=False)
        if stack.settings.nats_monitor_url:
            console.print(f"monitoring {stack.settings.nats_monitor_url}", highlight=False)
        console.print(f"PostgreSQL {stack.settings.database_url}", highlight=False)
        console.print(f"data dir   {stack.settings.data_dir}", highlight=False)
        if secure and stack.nats is not None:
            console.print(f"NATS users one nkey per component kind, seeds in {stack.settings.data_dir / 'credentials'}",
                          highlight=False)
        for line in lines:
            console.print(line, highlight=False)
        console.print(describe_telemetry("ingenium"), highlight=False)
        console.print("Streams created. `ingenium status` shows what runs. Press Ctrl-C to stop.", highlight=False)
        await stop.wait()
        console.print("stopping the stack", highlight=False)

    try:
        run(serve())
    finally:
        stack.stop()


def register(app: typer.Typer) -> None:
    """Add ``up`` to the root app."""
    app.command("up")(up)
