"""The ``ingenium`` command: run components, manage streams, start the local stack."""

from __future__ import annotations

import typer

from ingenium.cli import backtest, demo, ingest, ledger, stack

app = typer.Typer(
    name="ingenium",
    help="Event-driven trading on NATS JetStream with a PostgreSQL ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (stack, ledger, ingest, backtest, demo):
    module.register(app)


def main() -> None:
    """Entry point of the ``ingenium`` script."""
    app()
