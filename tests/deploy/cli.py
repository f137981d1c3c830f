"""Checking a command line against the real `ingenium` CLI: its own parser resolves and validates every argument.

Typer builds the command tree (groups and commands with their parameters); a leaf's ``make_context`` parses and
converts the arguments exactly as a run would, without invoking the command.
"""

from __future__ import annotations

from typing import Any

import typer.main

from ingenium.cli.main import app
from ingenium.component import Component
from ingenium.loader import load_class, parse_params


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def has_command(name: str) -> bool:
    """Whether the installed CLI has the top-level command ``name``."""
    group: Any = typer.main.get_command(app)
    return name in group.list_commands(group.context_class(group))


def parse(args: list[str]) -> tuple[list[str], dict[str, Any]]:
    """The command path and the parameters the CLI parses from ``args``; raises the CLI's usage error if refused."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while _is_group(command):
        assert rest, f"`ingenium {' '.join(path)}` needs a subcommand"
        name, *rest = rest
        sub = command.get_command(command.context_class(command), name)
        assert sub is not None, f"`ingenium {' '.join([*path, name])}` is not a command"
        path.append(name)
        command = sub
    context = command.make_context(" ".join(["ingenium", *path]), rest)
    return path, dict(context.params)


def check_command(args: list[str]) -> list[str]:
    """Parse ``args`` like the CLI; for ``run``, also load the component and build it with its parameters."""
    path, params = parse(args)
    if path == ["run"]:
        cls = load_class(str(params["target"]))
        assert issubclass(cls, Component), f"{params['target']} is not a Component"
        symbols = str(params["symbols"]).split(",") if params.get("symbols") else None
        component = cls(name=params["name"], symbols=symbols, **parse_params(list(params.get("param") or [])))
        assert component.name == params["name"]
    return path
