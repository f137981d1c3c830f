"""Shared CLI plumbing: one console, settings loading, and one-line errors instead of tracebacks."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.markup import escape

from ingenium.config import Settings
from ingenium.errors import IngeniumError, first_error
from ingenium.stack import resolve_settings

# Piped output (scripts, tests, CI logs) gets wide tables instead of rich's 80-column default and its ellipses.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)
T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also show servers' and migrations' log lines.")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit (the message is text: ``[acme]`` in it is not markup)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_config(cls: type[S], **overrides: Any) -> S:
    """``cls`` (settings read from ``<env_prefix>*``) with the overrides that are not ``None``.

    An invalid value gets one line naming its environment variable; a check across fields (no single field) is
    named by the prefix.
    """
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        field, why = first_error(exc)
        prefix = cls.model_config.get("env_prefix", "")
        name = f"{prefix}{field.split('.')[0].upper()}" if field else f"{prefix}* settings"
        fail(f"setting {name}: {why}")


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with a one-line message when one is invalid."""
    return load_config(Settings, **overrides)


def nats_settings(kind: str = "provisioner") -> Settings:
    """Settings of the running stack (or the environment's servers); a one-line error when there is no NATS.

    On a secure stack the command connects as ``kind``'s user (the operator's commands as the provisioner).
    """
    settings = resolve_settings(load_settings(), kind)
    if not settings.nats_url:
        fail("no NATS server: set INGENIUM_NATS_URL=nats://host:4222, or start one with `ingenium up`")
    return settings


#: What a command says when Ctrl-C stopped it (then it exits 0: the user asked for it).
INTERRUPTED = "stopped (Ctrl-C)"


def interrupted() -> NoReturn:
    """Ctrl-C: the user asked to stop, so it is a clean exit (0), said in one line."""
    err_console.print(INTERRUPTED, highlight=False)
    raise typer.Exit(0)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning Ingenium errors into one line and Ctrl-C into a clean exit.

    On Ctrl-C asyncio cancels the coroutine, so its ``finally`` blocks (drains, server stops) run first.
    """
    try:
        return asyncio.run(coro)
    except IngeniumError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        interrupted()
