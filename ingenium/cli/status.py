"""``ingenium status``: the servers, streams, durable consumers, ledger lag and connected components of a stack.

Connected components are the NATS connections of the server, by name (components connect as
``ingenium-<kind>-<name>``, the ledger as ``ingenium-ledger``), read from nats-server's HTTP monitoring
endpoint ``/connz``: the one an embedded server of ``ingenium up`` opens, or ``INGENIUM_NATS_MONITOR_URL`` for
another server. The ledger's checkpoints come through ``ingenium.cli.ledger``, which owns the ledger's tables.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from nats.js import JetStreamContext
from rich.table import Table

from ingenium.cli.console import console, fail, load_settings, run
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import IngeniumError
from ingenium.stack import StackState, resolve_settings, running_stack
from ingenium.streams import list_streams
from ingenium.subjects import STREAM_KEYS

#: The connection ``ingenium status`` itself opens, left out of the components it lists.
OWN_CONNECTION = "ingenium-status"


def _iso(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _monitor(url: str, path: str) -> dict[str, Any]:
    """GET one monitoring endpoint of nats-server (blocking; run it in a thread)."""
    try:
        with urllib.request.urlopen(f"{url}{path}", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise IngeniumError(f"cannot read {url}{path}: {reason}") from exc
    return data


async def _consumers(js: JetStreamContext, streams: list[str]) -> list[dict[str, Any]]:
    rows = []
    for stream in streams:
        for info in await js.consumers_info(stream):
            delivered, acked = info.delivered, info.ack_floor
            rows.append({
                "stream": stream,
                "consumer": info.name,
                "durable": bool(info.config.durable_name),
                "pending": info.num_pending or 0,
                "ack_pending": info.num_ack_pending or 0,
                "redelivered": info.num_redelivered or 0,
                "delivered_seq": delivered.stream_seq if delivered else 0,
                "last_delivered": _iso(delivered.last_active if delivered else None),
                "last_ack": _iso(acked.last_active if acked else None),
            })
    return rows


async def _ledger(settings: Settings, last_seqs: dict[str, int]) -> tuple[dict[str, Any] | None, Any]:
    """The PostgreSQL server and the ledger's checkpoint lag per stream, or what is wrong with them."""
    if not settings.database_url:
        return None, "no database configured (INGENIUM_DATABASE_URL, or `ingenium up`)"
    from ingenium.cli import ledger as ledger_cli  # the ledger owns its tables: see the module docstring

    try:
        version, checkpoints = await ledger_cli.checkpoints(settings)
    except IngeniumError as exc:
        return {"kind": "postgresql", "url": settings.database_url, "problem": str(exc)}, str(exc)
    server = {"kind": "postgresql", "url": settings.database_url, "version": version}
    rows = [{"stream": stream, "checkpoint": done, "last_seq": last_seqs.get(stream, 0),
             "lag": max(0, last_seqs.get(stream, 0) - done)} for stream, done in checkpoints.items()]
    return server, rows


async def gather(settings: Settings, state: StackState | None) -> dict[str, Any]:
    """Everything ``ingenium status`` prints, as plain data."""
    report: dict[str, Any] = {
        "stack": {"data_dir": str(settings.data_dir), "pid": state.pid if state else None,
                  "running": state is not None},
    }
    nc = await connect_nats(settings, name=OWN_CONNECTION)
    try:
        js = nc.jetstream()
        version = nc.connected_server_version
        nats_server: dict[str, Any] = {
            "kind": "nats", "url": nc.connected_url.geturl() if nc.connected_url else settings.nats_url,
            "version": f"nats-server {version.major}.{version.minor}.{version.patch}",
            "monitoring": settings.nats_monitor_url,
        }
        streams = await list_streams(js, settings)
        names = [settings.subjects.stream(key) for key in STREAM_KEYS]
        present = {s.name for s in streams}
        consumers = await _consumers(js, [n for n in names if n in present])
    finally:
        await nc.drain()
    components: Any
    if settings.nats_monitor_url:
        try:
            varz, connz = await asyncio.gather(
                asyncio.to_thread(_monitor, settings.nats_monitor_url, "/varz"),
                asyncio.to_thread(_monitor, settings.nats_monitor_url, "/connz?sort=start&limit=1024"),
            )
        except IngeniumError as exc:
            components = str(exc)
        else:
            nats_server |= {"name": varz.get("server_name"), "uptime": varz.get("uptime"),
                            "connections": varz.get("connections")}
            components = [
                {"name": c.get("name") or "(unnamed)", "address": f"{c.get('ip')}:{c.get('port')}",
                 "connected_since": c.get("start"), "last_activity": c.get("last_activity"),
                 "in_msgs": c.get("in_msgs", 0), "out_msgs": c.get("out_msgs", 0),
                 "subscriptions": c.get("subscriptions", 0)}
                for c in connz.get("connections", []) if c.get("name") != OWN_CONNECTION
            ]
    else:
        components = ("unknown: no NATS monitoring endpoint; set INGENIUM_NATS_MONITOR_URL=http://host:8222 "
                      "(nats-server -m 8222); an embedded server of `ingenium up` has one")
    postgres, ledger = await _ledger(settings, {s.name: s.last_seq for s in streams})
    report["servers"] = [nats_server] + ([postgres] if postgres else [])
    report["streams"] = [{"stream": s.name, "messages": s.messages, "bytes": s.bytes, "first_seq": s.first_seq,
                          "last_seq": s.last_seq, "consumers": s.consumers} for s in streams]
    report["consumers"] = consumers
    report["ledger"] = ledger
    report["components"] = components
    return report


def _table(title: str, rows: Any, columns: list[str]) -> Table | str:
    if isinstance(rows, str):
        return f"[bold]{title}[/]: {rows}"
    if not rows:
        return f"[bold]{title}[/]: none"
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    return table


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Show the stack: servers, streams, durable consumers, the ledger's lag and the connected components."""
    settings = load_settings()
    state = running_stack(settings)
    settings = resolve_settings(settings)
    if not settings.nats_url:
        fail(f"no stack running on {settings.data_dir} and no INGENIUM_NATS_URL: start one with `ingenium up` "
             "(or set INGENIUM_DATA_DIR to the data dir of the one that runs)")
    report = run(gather(settings, state))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    stack = report["stack"]
    where = f"`ingenium up` pid {stack['pid']}" if stack["running"] else "no `ingenium up` on this data dir"
    console.print(f"[bold]stack[/]: {where}, data dir {stack['data_dir']}", highlight=False)
    for item in (
        _table("servers", report["servers"], ["kind", "url", "version", "name", "monitoring", "problem"]),
        _table("streams", report["streams"], ["stream", "messages", "bytes", "first_seq", "last_seq", "consumers"]),
        _table("consumers", report["consumers"], ["stream", "consumer", "durable", "pending", "ack_pending",
                                                  "redelivered", "last_delivered", "last_ack"]),
        _table("ledger", report["ledger"], ["stream", "checkpoint", "last_seq", "lag"]),
        _table("components", report["components"], ["name", "address", "connected_since", "last_activity",
                                                    "in_msgs", "out_msgs", "subscriptions"]),
    ):
        console.print(item, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``status`` to the root app."""
    app.command("status")(status)
