"""Loading a component class from ``package.module:ClassName`` and parameters from ``key=value`` strings."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from ingenium.component import Component
from ingenium.errors import ConfigurationError


def load_class(spec: str) -> type[Component]:
    """Import ``package.module:ClassName`` and check it is a component class."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
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
