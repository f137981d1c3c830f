"""The base models of the wire: Go's PascalCase keys, frozen, and the strict variant that refuses unknown keys.

Every event (``ingenium.events``) and every payload inside one (``ingenium.marketdata``) derives from
``WireModel``; what gets acted on (orders, cancels) from ``StrictWireModel``, whose refusal names the key and the
nearest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import AliasGenerator, BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError


class WireModel(BaseModel):
    """Base of every wire model: Go's PascalCase keys, frozen, unknown keys ignored (newer senders add fields)."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=AliasGenerator(alias=to_pascal),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    def to_json(self) -> bytes:
        """Serialise with Go's keys, as the Go structs decode it."""
        return self.model_dump_json(by_alias=True).encode()


_KNOWN_KEYS: dict[type[BaseModel], dict[str, str]] = {}


def _known_keys(model: type[BaseModel]) -> dict[str, str]:
    """Every key ``model`` accepts (Go's alias and the Python name) → the alias to suggest for it."""
    known = _KNOWN_KEYS.get(model)
    if known is None:
        known = {}
        for name, field in model.model_fields.items():
            alias = field.alias or name
            known[name] = known[alias] = alias
        _KNOWN_KEYS[model] = known
    return known


def unknown_key_message(key: str, known: dict[str, str]) -> str:
    """``unknown key 'OrderType' (did you mean 'Type'?)``: the key, and the nearest known one (case-insensitive)."""
    lowered = {k.lower(): alias for k, alias in known.items()}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1)
    if close:
        return f"unknown key {key!r} (did you mean {lowered[close[0]]!r}?)"
    return f"unknown key {key!r} (known keys: {', '.join(sorted(set(known.values())))})"


F = TypeVar("F", bound=Callable[..., Any])

#: The attribute ``keys_only`` sets on a validator.
_KEYS_ONLY = "__ingenium_keys_only__"


def keys_only(check: F) -> F:
    """Mark a before-validator that only refuses keys, never reads or changes a value.

    Builders that take field names alone (``ingenium.backtest.trusted``) have nothing left for such a check to
    refuse, so they may build the model without it; any other before-validator makes them validate.
    """
    setattr(check, _KEYS_ONLY, True)
    return check


def is_keys_only(check: Any) -> bool:
    """Whether ``check`` (a validator function, or a classmethod around one) was marked by ``keys_only``."""
    return getattr(getattr(check, "__func__", check), _KEYS_ONLY, False) is True


class StrictWireModel(WireModel):
    """A wire model that refuses keys it does not know, naming the nearest known one.

    For what gets acted on (orders): an unknown key is most likely a misspelt known one, and ignoring it would
    give the field it meant its default, i.e. trade a guess.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    @keys_only
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = _known_keys(cls)
            unknown = [key for key in data if key not in known]
            if unknown:
                message = "; ".join(unknown_key_message(str(key), known) for key in unknown[:3])
                raise PydanticCustomError("unknown_key", "{message}", {"message": message})
        return data
