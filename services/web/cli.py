"""``ingenium web`` and ``ingenium runs``, registered through the ``ingenium.commands`` entry-point group."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from ingenium.cli.console import console, fail, load_config, load_settings, run
from ingenium.config import Settings
from ingenium.stack import resolve_settings
from ledger import runs
from ledger.database import require_database_url
from services.web.config import LOCALHOST, WebConfig
from services.web.serve import database_urls, page_url, server

runs_app = typer.Typer(help="Backtest, sweep and replay runs stored in PostgreSQL.", no_args_is_help=True)


def _settings() -> Settings:
    settings = resolve_settings(load_settings(), "web")
    if not settings.nats_url:
        fail("no NATS server: set INGENIUM_NATS_URL=nats://host:4222, or start one with `ingenium up`")
    require_database_url(settings)
    return settings


def _config(**overrides: object) -> WebConfig:
    return load_config(WebConfig, **overrides)


def web(
    port: Annotated[int | None, typer.Option(help="Port to listen on (INGENIUM_WEB_PORT, default 8080).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (only with a password; else 127.0.0.1).")] = None,
) -> None:
    """Serve the web UI: pages, the JSON API (/api/v1, OpenAPI at /api/v1/openapi.json) and live updates."""
    from services.web.app import create_app  # FastAPI loads only for this command

    settings = _settings()
    config = _config(port=port, host=host)
    reader_url, writer_url = run(database_urls(settings))
    bind = config.bind_host()
    if not config.protected:
        if host and host != LOCALHOST:
            fail(f"refusing to listen on {host} without a password: set INGENIUM_WEB_PASSWORD (or _TOKEN)")
        console.print("no INGENIUM_WEB_PASSWORD set: listening on 127.0.0.1 only, every local user is the operator",
                      highlight=False)
    app = create_app(settings, config, reader_url=reader_url, writer_url=writer_url)
    console.print(f"Ingenium web UI on {page_url(bind, config.port)}  (API: /api/v1, docs: /api/v1/docs)",
                  highlight=False)
    server(app, config, bind).run()


@runs_app.command("ls")
def runs_ls(
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 50,
    kind: Annotated[str | None, typer.Option(help="backtest, sweep or replay.")] = None,
    output: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List stored runs: id, kind, strategy, parameters, status, timings and key statistics."""
    settings = resolve_settings(load_settings())
    url = require_database_url(settings)
    found = run(runs.list_runs(url, limit=limit, kind=kind))
    if output == "json":
        console.print_json(json.dumps([{
            "run_id": r.run_id, "kind": r.kind, "strategy": r.strategy, "params": r.params, "status": r.status,
            "data_source": r.data_source, "code_version": r.code_version, "created_at": r.created_at.isoformat(),
            "seconds": r.seconds, "stats": r.stats} for r in found]))
        return
    table = Table("run", "kind", "strategy", "params", "status", "created", "seconds", "return", "sharpe", "trades")
    for r in found:
        stats = r.stats or {}
        table.add_row(r.run_id, r.kind, r.strategy.rpartition(":")[2], json.dumps(r.params), r.status,
                      r.created_at.strftime("%Y-%m-%d %H:%M:%S"), f"{r.seconds:.2f}" if r.seconds else "",
                      _fmt(stats.get("total_return")), _fmt(stats.get("sharpe")), str(stats.get("trades", "")))
    console.print(table)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))


def register(app: typer.Typer) -> None:
    """Add ``web`` and ``runs`` to the ``ingenium`` command."""
    app.command("web")(web)
    app.add_typer(runs_app, name="runs")
