"""The ``ingenium`` command: run components, manage streams, start the local stack."""

from __future__ import annotations

import sys

import typer

from ingenium.cli import backtest, demo, ingest, ledger, order, stack
from ingenium.cli.console import err_console

app = typer.Typer(
    name="ingenium",
    help="Event-driven trading on NATS JetStream with a PostgreSQL ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (stack, ledger, ingest, backtest, demo, order):
    module.register(app)


def main() -> None:
    """Entry point of the ``ingenium`` script: usage errors become one ``error:`` line (exit 2)."""
    try:
        result = app(standalone_mode=False)
    except typer.exceptions.TyperException as exc:  # bad arguments: one line instead of a usage panel
        message = exc.format_message()
        if message:  # empty when the help was shown for a bare command group
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            err_console.print(f"[bold red]error:[/] {message}{hint}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)
