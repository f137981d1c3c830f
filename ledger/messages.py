"""Messages as the ledger consumes them, from JetStream or replayed from its own audit trail, and their parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

from pydantic import ValidationError
from pydantic_core import from_json

from ingenium.errors import describe_validation_error
from ingenium.events import CancelRequest, ExecutionEvent, OrderEvent
from ingenium.streamread import StreamMessage
from ingenium.subjects import CANCEL

#: The two streams the ledger projects.
Kind = Literal["order", "execution"]

MODELS: dict[Kind, type[OrderEvent] | type[ExecutionEvent]] = {"order": OrderEvent, "execution": ExecutionEvent}

#: What the ledger projects: an order, a cancel request (on the order stream) or an execution.
LedgerEvent = OrderEvent | CancelRequest | ExecutionEvent

#: Prices, quantities and commissions must stay below 10**15 with at most 18 decimal places: far beyond any
#: market, and small enough that every sum, product and average stays exact in the ledger's 34 digits.
_MAX_ADJUSTED = 14
_MAX_PLACES = 18
_PLACES = Decimal(1).scaleb(-_MAX_PLACES)
_CHECK = Context(prec=34)


#: One stream message as the ledger consumes it (the library's reader's type).
Message = StreamMessage


@dataclass(frozen=True, slots=True)
class Parsed:
    """A message with its event, or the reason it has none; ``payload`` is its JSON text, else ``raw`` its bytes.

    ``event_id`` is the id the ledger deduplicates on (the order's or cancel request's ``Id``, the execution's
    ``ExecId``, else its ``Id``); ``order_id`` the order the message is about.
    """

    message: Message
    event: LedgerEvent | None
    error: str | None
    payload: str | None
    raw: bytes | None
    event_id: str | None = None
    order_id: str | None = None


def _out_of_range(event: LedgerEvent) -> str | None:
    """Why a decimal the ledger stores in a NUMERIC column is beyond what it accepts, if one is."""
    if isinstance(event, CancelRequest):
        return None
    if isinstance(event, OrderEvent):
        values = {"Quantity": event.quantity, "LimitPrice": event.limit_price}
    else:
        values = {"Quantity": event.quantity, "Price": event.price, "Commission": event.commission}
    for name, value in values.items():
        if value is None:
            continue
        # Whole digits first: quantize below then needs at most 15 + 18 digits, inside the 34 it has.
        if value.adjusted() > _MAX_ADJUSTED or value != value.quantize(_PLACES, context=_CHECK):
            return (
                f"{name}: {value} is out of the range the ledger accepts "
                f"(below 1E+{_MAX_ADJUSTED + 1}, at most {_MAX_PLACES} decimal places)"
            )
    return None


def _storable(data: bytes) -> str | None:
    """Why PostgreSQL could not store ``data`` as ``text``/``jsonb`` (NUL characters, lone surrogates, NaN), if so."""
    if b"\x00" in data:
        return "contains a NUL byte, which PostgreSQL text cannot store"
    if (b"NaN" in data or b"Infinity" in data) and _not_strict_json(data):
        return "contains NaN or Infinity, which JSON does not allow and PostgreSQL jsonb cannot store"
    if b"\\u" not in data:
        return None
    if b"\\u0000" in data:
        return "contains a NUL character, which PostgreSQL text cannot store"
    try:
        # pydantic's parser, as validation's: it bounds the nesting (json.loads raises RecursionError past ~1000
        # levels) and refuses what validation refuses.
        decoded = from_json(data)
    except ValueError:
        return None  # not JSON at all: validation says so, and the bytes are kept raw
    try:
        json.dumps(decoded, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return "contains an escaped lone surrogate, which is not valid Unicode"
    return None


def _not_strict_json(data: bytes) -> bool:
    """Whether ``data`` parses only with NaN and Infinity allowed, as pydantic's parser allows them by default."""
    try:
        from_json(data, allow_inf_nan=False)
    except ValueError:
        try:
            from_json(data)
        except ValueError:
            return False  # not JSON at all: validation says so
        return True
    return False


def storable_text(value: str) -> str:
    """``value`` with each NUL, which PostgreSQL ``text`` and ``jsonb`` cannot hold, as U+FFFD.

    For header values: any client can send a NUL in one (only CR and LF end a header line), and the audit row
    that keeps it must still be written, or the ledger would stop at that message.
    """
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _unparseable(message: Message, reason: str) -> Parsed:
    data = message.data
    try:
        text = data.decode()
        from_json(text)
    except ValueError:
        return Parsed(message, None, reason, None, data)
    if _storable(data) is not None:
        return Parsed(message, None, reason, None, data)
    return Parsed(message, None, reason, text, None)


def is_cancel(subject: str) -> bool:
    """Whether a message of the order stream is a cancel request (its subject, in any namespace)."""
    return subject == CANCEL or subject.endswith("." + CANCEL)


def parse(message: Message, kind: Kind) -> Parsed:
    """Validate a message as its stream's event; a failure keeps the bytes and the reason, naming the field."""
    model: type[LedgerEvent] = MODELS[kind]
    if kind == "order" and is_cancel(message.subject):
        model = CancelRequest
    problem = _storable(message.data)
    if problem is not None:
        return _unparseable(message, problem)
    try:
        event = model.from_json(message.data)
    except ValidationError as exc:
        return _unparseable(message, f"invalid {model.__name__}: {describe_validation_error(exc)}")
    problem = _out_of_range(event)
    if problem is not None:
        return _unparseable(message, f"invalid {model.__name__}: {problem}")
    if isinstance(event, ExecutionEvent):
        return Parsed(message, event, None, message.data.decode(), None, event.fill_id, event.order_id)
    if isinstance(event, CancelRequest):
        return Parsed(message, event, None, message.data.decode(), None, event.id, event.order_id)
    return Parsed(message, event, None, message.data.decode(), None, event.id, event.id)
