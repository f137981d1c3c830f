"""``ingenium run``: one component against JetStream until it is stopped."""

from __future__ import annotations

from typing import Annotated

import typer

from ingenium.cli.console import fail, nats_settings, run
from ingenium.errors import IngeniumError
from ingenium.loader import load_class, parse_params
from ingenium.runtime import run_until_signalled
from ingenium.telemetry import configure_logging, setup_telemetry


def run_component(
    target: Annotated[str, typer.Argument(
        help="package.module:ClassName of the component, or its registered name (sma-cross).")],
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
    # The runtime logs its start and stop lines; on a secure stack it connects as its kind's user.
    run(run_until_signalled(component, nats_settings(component.kind)))


def register(app: typer.Typer) -> None:
    """Add ``run`` to the root app."""
    app.command("run")(run_component)
