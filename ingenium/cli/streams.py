"""``ingenium streams``: create and inspect Ingenium's JetStream streams."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ingenium.cli.console import console, fail, nats_settings, run
from ingenium.connection import connect_nats
from ingenium.consumers import provision
from ingenium.errors import IngeniumError
from ingenium.loader import component_from_spec
from ingenium.streams import cluster_nodes, ensure_streams, list_streams

streams_app = typer.Typer(help="Create and inspect Ingenium's JetStream streams.", no_args_is_help=True)


@streams_app.command("init")
def streams_init(
    component: Annotated[list[str] | None, typer.Option(
        help="NAME=package.module:Class[:SYMBOL,…] of a component whose durable consumers (and buckets) to "
        "create; repeat per component.")] = None,
) -> None:
    """Create the streams, or update them to the configured retention, replicas, placement and dedup window."""
    try:  # a wrong component is reported before any server is looked for
        components = [component_from_spec(spec) for spec in component or []]
    except IngeniumError as exc:
        fail(str(exc))

    async def go() -> list[str]:
        settings = nats_settings()
        nc = await connect_nats(settings, name="ingenium-cli")
        try:
            done = await ensure_streams(nc.jetstream(), settings, nodes=cluster_nodes(nc))
            return done + await provision(nc.jetstream(), components, settings)
        finally:
            await nc.drain()

    for line in run(go()):
        console.print(line)


@streams_app.command("ls")
def streams_ls() -> None:
    """Messages, bytes, first/last sequence and consumers of each stream."""

    async def go() -> Table:
        settings = nats_settings()
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


def register(app: typer.Typer) -> None:
    """Add ``streams`` to the root app."""
    app.add_typer(streams_app, name="streams")
