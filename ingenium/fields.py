"""Wire field types shared by every event, and the duration type of component parameters.

The original Go Ingenium writes decimals as strings, unset values as ``""`` and times as RFC 3339 with
nanoseconds and the sender's UTC offset. These annotated types accept exactly that, normalise it (UTC,
``Decimal``) and write it back in a form the Go structs decode.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Ge, Gt
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer

from ingenium.period import parse_period

_SYMBOL = re.compile(r"^[A-Za-z0-9_\-/:^$#@+=]{1,64}$")
#: The longest decimal string read, checked before a ``Decimal`` is built from it: a price or a quantity needs a
#: few dozen characters, and a megabyte of digits would cost every sum and every log line that meets it.
MAX_DECIMAL_CHARS = 100
#: Decimals must lie within 10**±40 (``Decimal.adjusted``): ``1e999999`` parses, but multiplying it overflows
#: and writing it out in full (``f"{v:f}"``) allocates a megabyte; no price, quantity or fee comes near.
MAX_DECIMAL_EXPONENT = 40
_DURATION = re.compile(r"^(\d+)[smhdw]$")


def _to_decimal(value: Any) -> Any:
    """Refuse floats (they cannot hold money exactly), booleans and overlong strings; pydantic parses the rest.

    Pydantic's own decimal parsing takes strings, ints and Decimals and refuses NaN and infinity, in Rust:
    this check and ``_bounded`` are the only Python on the path, because every message a component consumes
    passes them, so each is a test or two.
    """
    kind = value.__class__
    if kind is float:
        raise ValueError("floats are not accepted for money or quantities; pass a Decimal or a decimal string")
    if kind is bool:
        raise ValueError("a boolean is not a number")
    if kind is str and len(value) > MAX_DECIMAL_CHARS:
        raise ValueError(f"a decimal string of {len(value)} characters is too long (at most {MAX_DECIMAL_CHARS})")
    return value


def _bounded(value: Decimal) -> Decimal:
    """Refuse decimals beyond 10**±``MAX_DECIMAL_EXPONENT`` (the value is finite: pydantic refused NaN and inf).

    Also those whose written form (``str``, as ``to_json`` writes it) is over ``MAX_DECIMAL_CHARS``: a ``Decimal``
    passed in (or a short string such as ``1E-6``, which ``str`` writes as ``0.000001``) would otherwise be written
    as an event that its own reader refuses.
    """
    if -MAX_DECIMAL_EXPONENT <= value.adjusted() <= MAX_DECIMAL_EXPONENT:
        written = len(str(value))
        if written <= MAX_DECIMAL_CHARS:
            return value
        raise ValueError(f"a decimal written with {written} characters is too long (at most {MAX_DECIMAL_CHARS})")
    raise ValueError(f"{value} is out of range: a decimal's magnitude must lie between 1E-{MAX_DECIMAL_EXPONENT} "
                     f"and 1E+{MAX_DECIMAL_EXPONENT + 1}")


def _bounded_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else _bounded(value)


def _empty_is_none(value: Any) -> Any:
    """Go writes an unset string field as ``""``; that means "not set"."""
    return None if value == "" else value


def _unset_if_zero(value: Decimal | None) -> Decimal | None:
    """Go writes an unset price as ``""`` or as a zero decimal; both mean "not set". Negative prices are refused."""
    if value is None or value == 0:
        return None
    if value < 0:
        raise ValueError("a price must be greater than zero (leave it empty when it is not set)")
    return value


def _duration(value: Any) -> Any:
    """``90s``, ``5m``, ``1h``, ``1d`` (written as bar periods are) or a whole number of seconds.

    Anything else goes on to pydantic, which also takes ISO 8601 (``PT5M``) and ``HH:MM:SS``.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return timedelta(seconds=int(text))
        match = _DURATION.match(text)
        if match:
            return timedelta(0) if int(match.group(1)) == 0 else parse_period(text)
    return value


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_decimal_str(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _symbol(value: str) -> str:
    if not _SYMBOL.match(value):
        raise ValueError(
            f"{value!r} is not a valid symbol: use 1-64 letters, digits or _-/: (no spaces, dots, '*' or '>'), "
            "because the symbol becomes a NATS subject token"
        )
    return value


#: A finite decimal, written as a string on the wire.
Num = Annotated[
    Decimal, BeforeValidator(_to_decimal), AfterValidator(_bounded),
    PlainSerializer(str, return_type=str, when_used="json"),
]
#: A finite decimal greater than zero.
PositiveNum = Annotated[Num, Gt(0)]
#: A finite decimal of zero or more.
NonNegativeNum = Annotated[Num, Ge(0)]
#: A decimal that may be unset; ``""`` on the wire means unset.
OptionalNum = Annotated[
    Decimal | None,
    BeforeValidator(_to_decimal),
    BeforeValidator(_empty_is_none),
    AfterValidator(_bounded_or_none),
    PlainSerializer(_optional_decimal_str, return_type=str, when_used="json"),
]
#: An order price that may be unset: ``""``, ``0`` and ``None`` all mean unset; written as ``""`` when unset.
OptionalPrice = Annotated[OptionalNum, AfterValidator(_unset_if_zero)]
#: A timezone-aware instant, normalised to UTC and written as RFC 3339.
UtcDatetime = Annotated[
    AwareDatetime, AfterValidator(_to_utc), PlainSerializer(_rfc3339, return_type=str, when_used="json")
]
#: A market symbol that is safe to use as a subject token.
Symbol = Annotated[str, AfterValidator(_symbol)]
#: A string Go may leave empty; ``""`` reads as ``None`` and ``None`` writes as ``""``.
OptionalStr = Annotated[
    str | None,
    BeforeValidator(_empty_is_none),
    PlainSerializer(lambda v: v or "", return_type=str, when_used="json"),
]


#: A positive length of time for component parameters: ``90s``, ``5m``, ``1h``, seconds, or ISO 8601 ``PT5M``.
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), Gt(timedelta(0))]


def is_valid_symbol(value: str) -> bool:
    """Return whether ``value`` can be used as a symbol (and so as a subject token)."""
    return bool(_SYMBOL.match(value))
