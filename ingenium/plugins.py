"""The entry-point groups through which installed packages extend Ingenium, as pytest and Flask plugins do.

The library names none of its applications: the ledger, the services and any third-party package of components
or venues declare entry points in these groups (``[project.entry-points."ingenium.commands"]`` in their
``pyproject.toml``), and the library loads whatever is installed.

- ``ingenium.commands``: ``register(app)`` callables that add commands to the ``ingenium`` CLI.
- ``ingenium.components``: component classes under short names (``sma-cross``), accepted wherever a
  ``package.module:ClassName`` is (``ingenium run``, backtests, replays).
- ``ingenium.status``: async ``section(settings, last_sequences)`` callables adding sections to ``ingenium status``
  (``ingenium.cli.status.StatusSection``).
- ``ingenium.stack``: classes of add-ons that ``ingenium up`` starts with the servers and stops before them
  (``ingenium.cli.up.StackAddon``).
"""

from __future__ import annotations

import importlib.metadata

COMMANDS = "ingenium.commands"
COMPONENTS = "ingenium.components"
STATUS = "ingenium.status"
STACK = "ingenium.stack"


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of ``group``, by name (one per name: the first installed wins)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry in importlib.metadata.entry_points(group=group):
        found.setdefault(entry.name, entry)
    return [found[name] for name in sorted(found)]
