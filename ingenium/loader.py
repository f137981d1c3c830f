"""Loading a component class from ``package.module:ClassName`` or a registered name, parameters from ``key=value``.

Registered names (``sma-cross``, ``risk-portfolio``, ``paper``) are the entry points of the ``ingenium.components``
group: the services package declares its components there, and so can any installed package.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from typing import Any

from ingenium import plugins
from ingenium.component import Component
from ingenium.errors import ConfigurationError


def registered() -> dict[str, str]:
    """Every installed component name with the ``package.module:ClassName`` it stands for."""
    return {entry.name: entry.value for entry in plugins.entry_points(plugins.COMPONENTS)}


def resolve(spec: str) -> str:
    """The ``package.module:ClassName`` of a registered name; anything with a ``:`` is returned as it is."""
    if ":" in spec:
        return spec
    names = registered()
    if spec in names:
        return names[spec]
    close = difflib.get_close_matches(spec, list(names), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"registered: {', '.join(names) or 'none'}"
    raise ConfigurationError(f"{spec!r} is neither a registered component nor of the form package.module:ClassName; "
                             f"{hint}")


def load_class(spec: str) -> type[Component]:
    """Import a component class, named ``package.module:ClassName`` or by its registered name, and check it."""
    spec = resolve(spec)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"{spec!r} is not of the form package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from None
    target = getattr(module, attr, None)
    if target is None:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(target, type) and issubclass(target, Component)):
        raise ConfigurationError(f"{spec} is not an Ingenium component (subclass Strategy, Portfolio, …)")
    return target


def parse_params(pairs: Iterable[str]) -> dict[str, Any]:
    """``["fast=10", "slow=30"]`` → ``{"fast": "10", "slow": "30"}``; values are validated by the component."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"parameter {pair!r} is not of the form name=value")
        params[key.strip()] = value.strip()
    return params


def component_from_spec(spec: str) -> Component:
    """``NAME=package.module:Class[:SYMBOL,…]`` → that component (default parameters), as ``ingenium run`` makes it."""
    name, sep, target = spec.partition("=")
    parts = target.split(":")
    if not sep or not name.strip() or len(parts) not in (2, 3):
        raise ConfigurationError(f"component {spec!r} is not of the form NAME=package.module:Class[:SYMBOL,...]")
    symbols = [s.strip() for s in parts[2].split(",") if s.strip()] if len(parts) == 3 else None
    return load_class(":".join(parts[:2]))(name=name.strip(), symbols=symbols)
