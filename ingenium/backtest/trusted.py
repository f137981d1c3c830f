"""Building events on the backtest's hot path without pydantic's validation, and without accepting less than it.

Two builders:

* ``trusted_bar`` turns a row of a validated data file into a ``DataEvent``. Pydantic's ``model_construct``
  skips validation but still costs about 3 µs per model; this does what it does for models whose every field is
  given (set ``__dict__`` and the bookkeeping pydantic reads) at a sixth of the cost.
* ``TrustedBuilder`` builds the signals, orders and executions that components create through their helpers
  (``Component.build_event`` with ``trusted_events`` set). Those values come from a component's code, not from a
  checked file, so each one is first checked against its field: its exact type, its bounds, and every validator
  of the field (which, for a value already in its canonical form, must return the value itself). The model's
  ``after`` validators then run on the built event. Anything that does not pass, or that no check could be
  derived for, is built by validation instead: the live path, which either normalises the value as live would
  (a non-UTC offset) or raises the very ``ValidationError`` live would raise (a float price, a bad symbol, a
  naive time, a missing field).

The classes are the real ``Ohlc``, ``DataEvent`` … : equal to validated ones, and serialised the same
(``tests/backtest/test_trusted.py`` and ``test_build_event.py`` hold that).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any, Generic, TypeVar

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from pydantic.functional_serializers import PlainSerializer
from pydantic.functional_validators import AfterValidator, BeforeValidator

from ingenium import fields as fields_module
from ingenium.events import DataEvent, DataType, Ohlc, is_keys_only

_new = object.__new__
_set = object.__setattr__
_OHLC_FIELDS = frozenset(Ohlc.model_fields)
_DATA_FIELDS = frozenset(DataEvent.model_fields) - {"trade", "quote"}  # as a validated bar: those unset
_OHLC_TYPE = DataType.OHLC

M = TypeVar("M", bound=BaseModel)

def trusted_bar(
    event_id: str,
    symbol: str,
    start: datetime,
    end: datetime,
    period: str,
    open_: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
) -> DataEvent:
    """Build a ``DataEvent`` carrying one OHLC bar whose values passed ``ingenium.bars``' checks.

    Args:
        event_id: The event's ``Id``.
        symbol: A valid symbol.
        start: Bar start (UTC), the bar's ``Timestamp``.
        end: Bar end (UTC), the event's ``Timestamp``: when the bar became known.
        period: Bar length as ``Period`` writes it (``1m``).
        open_: Open price, positive.
        high: High price, at least open and close.
        low: Low price, at most open and close.
        close: Close price, positive.
        volume: Volume, zero or more.

    """
    ohlc = _new(Ohlc)
    _set(ohlc, "__dict__", {
        "open": open_, "high": high, "low": low, "close": close, "volume": volume, "period": period,
        "timestamp": start,
    })
    _set(ohlc, "__pydantic_fields_set__", _OHLC_FIELDS)
    _set(ohlc, "__pydantic_extra__", None)
    _set(ohlc, "__pydantic_private__", None)
    event = _new(DataEvent)
    _set(event, "__dict__", {"id": event_id, "timestamp": end, "type": _OHLC_TYPE, "symbol": symbol, "ohlc": ohlc,
                           "trade": None, "quote": None})
    _set(event, "__pydantic_fields_set__", _DATA_FIELDS)
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


# ---------------------------------------------------------------------------------------------- checked fields
def _unary(func: Callable[..., Any]) -> bool:
    """Whether a validator takes the value alone (one that also wants pydantic's ``info`` cannot be called here)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 1


_IN_RANGE = (f"-{fields_module.MAX_DECIMAL_EXPONENT} <= v.adjusted() <= {fields_module.MAX_DECIMAL_EXPONENT} "
             f"and len(str(v)) <= {fields_module.MAX_DECIMAL_CHARS}")

#: The wire validators of ``ingenium.fields``, by what keeps a value of the field's exact type unchanged through
#: them, so the check states that instead of calling them (each call costs more than the test). Any other
#: validator is called, and must return the value itself.
_KNOWN: dict[Callable[..., Any], str] = {
    # Refuses only floats, booleans and overlong strings, which the exact type test excludes already.
    fields_module._to_decimal: "",
    fields_module._empty_is_none: "v != ''",  # only a str (or str enum) can equal "": see _may_be_empty
    fields_module._bounded: _IN_RANGE,
    fields_module._bounded_or_none: _IN_RANGE,  # an optional field's test passes None before this one
    fields_module._to_utc: "v.tzinfo is UTC",
    fields_module._symbol: "SYMBOL(v) is not None",
}


_NOT_EMPTY = "v != ''"


def _may_be_empty(base: Any) -> bool:
    """Whether a value of exactly this type can equal ``""`` (a ``Decimal``, time or int never does)."""
    return not (base in (Decimal, datetime, AwareDatetime, int, bool)
                or (isinstance(base, type) and issubclass(base, Enum) and not issubclass(base, str)))


def _kind(base: Any) -> str | None:
    """The exact-type test for one field type, as an expression of ``v``; ``None`` if there is none to vouch for."""
    if base is Decimal:
        return "type(v) is Decimal and v.is_finite()"
    if base is AwareDatetime:
        return "type(v) is datetime and v.tzinfo is not None"
    if base in (str, int, bool, datetime):
        return f"type(v) is {base.__name__}"
    if isinstance(base, type) and issubclass(base, Enum):
        return "type(v) is {T}"
    if isinstance(base, type) and issubclass(base, BaseModel):
        # Validation takes a model instance as it is unless the model asks to revalidate instances.
        return "type(v) is {T}" if base.model_config.get("revalidate_instances", "never") == "never" else None
    return None


_BOUNDS: tuple[tuple[type, str, str], ...] = (
    (Gt, "gt", "v > {}"), (Ge, "ge", "v >= {}"), (Lt, "lt", "v < {}"), (Le, "le", "v <= {}"),
    (MinLen, "min_length", "len(v) >= {}"), (MaxLen, "max_length", "len(v) <= {}"),
)


def field_test(field: FieldInfo, prefix: str) -> tuple[str, dict[str, Any]] | None:
    """A test that a value ``v`` is what validating it for ``field`` would return, unchanged.

    Returns the test as a Python expression of ``v`` and the names it uses (each starting with ``prefix``), or
    ``None`` when no test can be derived (the field is then validated whenever it is given). The value must have
    the field's exact type (``Decimal``, an aware ``datetime``, ``str``, the enum …), meet its bounds, and come
    back unchanged from each of the field's validators: the before-validators normalise wire forms (Go's ``""``)
    and refuse floats, the after-validators check symbols and move times to UTC, and none of them changes a value
    that is already canonical.
    """
    annotation = field.annotation
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            return None
        annotation, optional = members[0], True
    kind = _kind(annotation)
    if kind is None:
        return None
    names: dict[str, Any] = {f"{prefix}T": annotation}
    terms = [kind.format(T=f"{prefix}T")]
    for meta in field.metadata:
        if isinstance(meta, PlainSerializer):
            continue  # how the value is written, not what it may be
        if isinstance(meta, BeforeValidator | AfterValidator):
            known = _KNOWN.get(meta.func)
            if known is not None:
                if known != _NOT_EMPTY or _may_be_empty(annotation):
                    terms.append(known)
            elif _unary(meta.func):
                name = f"{prefix}f{len(names)}"
                names[name] = meta.func
                terms.append(f"{name}(v) is v")
            else:
                return None  # a validator that needs pydantic's context
            continue
        for cls, attribute, template in _BOUNDS:
            if type(meta) is cls:
                name = f"{prefix}b{len(names)}"
                names[name] = getattr(meta, attribute)
                terms.append(template.format(name))
                break
        else:
            return None  # a constraint this module does not know
    test = " and ".join(t for t in terms if t)
    return (f"v is None or ({test})" if optional else test), names


class TrustedBuilder(Generic[M]):
    """Builds one model class as validation would, without validating values that are already canonical.

    For each set of field names it is called with (a helper passes the same names every time), it compiles one
    function that tests every value (``field_test``) and builds the instance as ``model_construct`` would: one
    call per event rather than one per field, because this runs for every event a backtest's components build.
    A set of names with a field that has no test, a missing required field or an unknown name (an alias) is
    always validated.

    Args:
        model: The event (or other pydantic model) class.

    """

    __slots__ = ("_after", "_builders", "_defaults", "_model", "_tests", "_usable")

    def __init__(self, model: type[M]) -> None:
        self._model = model
        decorators = model.__pydantic_decorators__
        self._usable = (not model.__pydantic_post_init__ and model.model_config.get("extra") != "allow"
                        and not decorators.field_validators and not decorators.validators
                        and not decorators.root_validators
                        # A before-validator that only checks which keys were given (marked ``keys_only``) has
                        # nothing to refuse here: the builder takes field names alone, anything else is validated.
                        and all(d.info.mode == "after" or is_keys_only(d.func)
                                for d in decorators.model_validators.values()))
        self._after: tuple[Callable[[Any], Any], ...] = tuple(
            d.func for d in decorators.model_validators.values() if d.info.mode == "after")
        self._tests: dict[str, tuple[str, dict[str, Any]] | None] = {
            name: field_test(info, f"_{index}_") for index, (name, info) in enumerate(model.__pydantic_fields__.items())
        }
        self._builders: dict[tuple[str, ...], Callable[[dict[str, Any]], M | None] | None] = {}

    def _compile(self, given: tuple[str, ...]) -> Callable[[dict[str, Any]], M | None] | None:
        fields = self._model.__pydantic_fields__
        if not self._usable or not set(given) <= fields.keys():
            return None
        if any(info.is_required() and name not in given for name, info in fields.items()):
            return None
        namespace: dict[str, Any] = {"Decimal": Decimal, "datetime": datetime, "UTC": UTC,
                                     "SYMBOL": fields_module._SYMBOL.match, "new": _new, "setattr": _set,
                                     "MODEL": self._model, "GIVEN": frozenset(given)}
        lines = ["def build(d):", "    try:"]
        for name in given:
            test = self._tests[name]
            if test is None:
                return None
            expression, names = test
            namespace.update(names)
            lines += [f"        v = d[{name!r}]", f"        if not ({expression}):", "            return None"]
        lines += ["    except Exception:", "        return None", "    values = {"]
        for index, (name, info) in enumerate(fields.items()):
            if name in given:
                lines.append(f"        {name!r}: d[{name!r}],")
            elif info.default_factory is not None:
                if info.default_factory_takes_validated_data:
                    return None
                namespace[f"factory{index}"] = info.default_factory
                lines.append(f"        {name!r}: factory{index}(),")
            else:
                # Pydantic copies a mutable default for each instance; get_default does the same here.
                default = info.get_default(call_default_factory=False)
                if default is info.default:
                    namespace[f"default{index}"] = default
                    lines.append(f"        {name!r}: default{index},")
                else:
                    namespace[f"default{index}"] = partial(info.get_default, call_default_factory=False)
                    lines.append(f"        {name!r}: default{index}(),")
        lines += ["    }", "    event = new(MODEL)", "    setattr(event, '__dict__', values)",
                  "    setattr(event, '__pydantic_fields_set__', set(GIVEN))",
                  "    setattr(event, '__pydantic_extra__', None)", "    setattr(event, '__pydantic_private__', None)",
                  "    return event"]
        exec("\n".join(lines), namespace)  # built from the model's field names and fixed templates, never data
        return typing.cast(Callable[[dict[str, Any]], M | None], namespace["build"])

    def __call__(self, fields: dict[str, Any]) -> M:
        """Build the model from ``fields`` (by field name), checked; what fails a check is validated instead."""
        given = tuple(fields)
        try:
            build = self._builders[given]
        except KeyError:
            build = self._builders[given] = self._compile(given)
        event = build(fields) if build is not None else None
        if event is None:
            return self._model(**fields)  # live's path: normalises, or raises live's ValidationError
        for validator in self._after:
            try:
                validator(event)
            except Exception:
                return self._model(**fields)  # raises what live raises, in pydantic's words
        return event
