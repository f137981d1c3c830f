"""The ``ingenium`` command: run components, manage streams, start the local stack."""

from __future__ import annotations

import importlib.metadata
import sys

import typer
from rich.markup import escape

from ingenium.cli import backtest, demo, ingest, ledger, order, publish, status, streams, up
from ingenium.cli import run as run_command
from ingenium.cli.console import INTERRUPTED, err_console
from ingenium.errors import IngeniumError

app = typer.Typer(
    name="ingenium",
    help="Event-driven trading on NATS JetStream with a PostgreSQL ledger.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (up, run_command, publish, status, streams, ledger, ingest, backtest, demo, order):
    module.register(app)

#: Entry-point group through which installed packages add commands: each value is a ``register(app)`` callable.
COMMANDS_GROUP = "ingenium.commands"


def _register_plugins(root: typer.Typer) -> None:
    """Add the commands of every installed ``ingenium.commands`` plugin; one that fails is reported in one line."""
    for entry in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        try:
            entry.load()(root)
        except Exception as exc:  # a broken plugin must not take the other commands down with it
            err_console.print(
                f"[bold red]error:[/] cannot load command plugin {entry.name!r} ({entry.value}): "
                f"{exc.__class__.__name__}: {exc}",
                highlight=False, soft_wrap=True,
            )


_register_plugins(app)


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
    except IngeniumError as exc:  # raised outside `console.run` (a command's own set-up, a plugin): one line too
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:  # click's translation of a Ctrl-C outside an event loop: a requested stop, not a failure
        err_console.print(INTERRUPTED, highlight=False)
        sys.exit(0)
    sys.exit(result if isinstance(result, int) else 0)
