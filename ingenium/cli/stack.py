"""Core commands: ``up``, ``streams``, ``run`` and ``publish``."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from ingenium.bus import JetStreamBus
from ingenium.cli import status
from ingenium.cli.console import Verbose, console, fail, interrupted, load_settings, run
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import ConfigurationError, IngeniumError, StackAlreadyRunning
from ingenium.events import EVENT_TYPES, MAX_EVENT_BYTES, Event
from ingenium.loader import load_class, parse_params
from ingenium.logs import configure_logging
from ingenium.observability import describe_telemetry, setup_telemetry
from ingenium.runtime import describe_validation_error, run_until_signalled
from ingenium.stack import resolve_settings, start_stack
from ingenium.streams import cluster_nodes, ensure_streams, list_streams

streams_app = typer.Typer(help="Create and inspect Ingenium's JetStream streams.", no_args_is_help=True)


def _settings() -> Settings:
    settings = resolve_settings(load_settings())
    if not settings.nats_url:
        fail("no NATS server: set INGENIUM_NATS_URL=nats://host:4222, or start one with `ingenium up`")
    return settings


@streams_app.command("init")
def streams_init() -> None:
    """Create the streams, or update them to the configured retention, replicas, placement and dedup window."""

    async def go() -> list[str]:
        settings = _settings()
        nc = await connect_nats(settings, name="ingenium-cli")
        try:
            return await ensure_streams(nc.jetstream(), settings, nodes=cluster_nodes(nc))
        finally:
            await nc.drain()

    for line in run(go()):
        console.print(line)


@streams_app.command("ls")
def streams_ls() -> None:
    """Messages, bytes, first/last sequence and consumers of each stream."""

    async def go() -> Table:
        settings = _settings()
        nc = await connect_nats(settings, name="ingenium-cli")
        try:
            statuses = await list_streams(nc.jetstream(), settings)
        finally:
            await nc.drain()
        table = Table("stream", "subjects", "messages", "bytes", "first seq", "last seq", "consumers")
        for s in statuses:
            table.add_row(s.name, ", ".join(s.subjects), str(s.messages), str(s.bytes), str(s.first_seq),
                          str(s.last_seq), str(s.consumers))
        return table

    console.print(run(go()))


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


def run_component(
    target: Annotated[str, typer.Argument(help="package.module:ClassName of the component.")],
    name: Annotated[str | None, typer.Option(help="Component id and durable consumer name.")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols to consume data for.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Parameter name=value.")] = None,
) -> None:
    """Run one component against JetStream until SIGINT/SIGTERM."""
    try:  # a wrong target or parameter is reported before any server is looked for
        cls = load_class(target)
        component = cls(
            name=name,
            symbols=[s.strip() for s in symbols.split(",") if s.strip()] if symbols else None,
            **parse_params(param or []),
        )
        configure_logging()
        setup_telemetry(f"ingenium-{component.name}")
    except IngeniumError as exc:
        fail(str(exc))
    run(run_until_signalled(component, _settings()))  # the runtime logs its start and stop lines


def read_event(kind: str, payload: str) -> Event:
    """The event ``ingenium publish KIND PAYLOAD`` sends: its JSON inline or, for ``@path``, read from a file.

    Raises:
        ConfigurationError: the kind is unknown, the file unreadable or over ``MAX_EVENT_BYTES``, or the JSON
            not a valid event (the message names the field).

    """
    model = EVENT_TYPES.get(kind)
    if model is None:
        raise ConfigurationError(f"unknown event kind {kind!r}: use one of {', '.join(EVENT_TYPES)}")
    data: bytes | str = payload
    if payload.startswith("@"):
        path = Path(payload[1:])
        shown = payload[1:] if payload[1:].isprintable() else repr(payload[1:])  # the error stays one line
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_EVENT_BYTES + 1)  # no more than that is ever needed to refuse a file
        except OSError as exc:
            raise ConfigurationError(f"cannot read {shown}: {exc.strerror or exc}") from None
        except ValueError:  # a NUL byte in the path, which no file name can hold
            raise ConfigurationError(f"cannot read {shown}: a file name cannot contain a NUL byte") from None
        if len(data) > MAX_EVENT_BYTES:
            raise ConfigurationError(f"{shown} is over the {MAX_EVENT_BYTES}-byte limit for one event")
    try:
        return model.from_json(data)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid {kind} event: {describe_validation_error(exc)}") from None


def publish(
    kind: Annotated[str, typer.Argument(help="data, signal, order or execution.")],
    payload: Annotated[str, typer.Argument(help="The event's JSON, or @file.json.")],
) -> None:
    """Validate one event and publish it; prints its stream sequence, or `duplicate`."""
    try:
        event = read_event(kind, payload)
    except ConfigurationError as exc:
        fail(str(exc))

    async def go() -> str:
        settings = _settings()
        nc = await connect_nats(settings, name="ingenium-cli")
        try:
            await ensure_streams(nc.jetstream(), settings)
            result = await JetStreamBus(nc, settings.subjects).publish(event)
        finally:
            await nc.drain()
        return "duplicate" if result.duplicate else json.dumps({"stream": result.stream, "seq": result.sequence})

    console.print(run(go()), highlight=False)


def register(app: typer.Typer) -> None:
    """Add the core commands to the root app."""
    app.command("up")(up)
    app.command("run")(run_component)
    app.command("publish")(publish)
    app.command("status")(status.status)
    app.add_typer(streams_app, name="streams")
