"""The dead-letter stream: where a message that cannot be handled goes, with the reason, so nothing is lost."""

from __future__ import annotations

import re
from collections.abc import Mapping

from nats.js import JetStreamContext

from ingenium import telemetry
from ingenium.bus import MSG_ID
from ingenium.subjects import Subjects

REASON = "Ingenium-Dead-Letter-Reason"
COMPONENT = "Ingenium-Dead-Letter-Component"
ORIGINAL_STREAM = "Ingenium-Original-Stream"
ORIGINAL_SEQUENCE = "Ingenium-Original-Sequence"
ORIGINAL_SUBJECT = "Ingenium-Original-Subject"
ORIGINAL_MSG_ID = "Ingenium-Original-Msg-Id"
#: Set when the payload was cut to fit the server's max payload beside the headers: the original's size in bytes.
TRUNCATED = "Ingenium-Dead-Letter-Truncated"
#: Set when original headers were left out because their names cannot be sent again: those names, quoted.
DROPPED_HEADERS = "Ingenium-Dead-Letter-Dropped-Headers"

#: A header name nats-py will publish (an HTTP token). A raw client can send others (``X(1)``, ``a/b``), and
#: nats-py hands them over on receipt but refuses to publish them, so copying one would fail the dead letter.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Original headers copied at most, and the characters kept of each value: a sender's headers may take most of
#: the max payload, and the dead letter needs room for its own.
_MAX_COPIED = 64
_MAX_VALUE = 4096
#: Room left for the protocol's header framing (``NATS/1.0``, ``: `` and CRLFs) when fitting a payload.
_FRAMING = 16


def letter_headers(
    headers: Mapping[str, str] | None, *, component: str, reason: str, subject: str, stream: str, sequence: int
) -> dict[str, str]:
    """The headers of a dead letter: the original's that can be sent again, then where it came from and why.

    A name that is not an HTTP token, or past the first ``_MAX_COPIED``, is left out and listed in
    ``DROPPED_HEADERS``; values are cut at ``_MAX_VALUE`` characters, and written in ASCII (``_ascii``).
    """
    out: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in (headers or {}).items():
        if not _TOKEN.fullmatch(key) or len(out) >= _MAX_COPIED:
            dropped.append(repr(key))
        else:
            out[ORIGINAL_MSG_ID if key == MSG_ID else key] = value[:_MAX_VALUE]
    if dropped:
        out[DROPPED_HEADERS] = ", ".join(dropped)[:1000]
    out.update(
        {
            REASON: reason.replace("\r", " ").replace("\n", " ")[:2000],
            COMPONENT: component,
            ORIGINAL_STREAM: stream,
            ORIGINAL_SEQUENCE: str(sequence),
            ORIGINAL_SUBJECT: subject,
            MSG_ID: f"{stream}:{sequence}:{component}",
        }
    )
    return {key: _ascii(value) for key, value in out.items()}


def _ascii(value: str) -> str:
    r"""``value`` in ASCII, any other character escaped (``\xe9``, ``\ufffd``).

    Stream reads (``js.get_msg``, the web UI's dead-letter view) parse headers with Python's email parser, which
    hands a non-ASCII value over as a ``Header`` object rather than a string.
    """
    return value if value.isascii() else value.encode("ascii", "backslashreplace").decode("ascii")


def fit_payload(payload: bytes, headers: dict[str, str], max_payload: int | None) -> bytes:
    """``payload``, cut (and ``TRUNCATED`` set) if it and ``headers`` would exceed the server's ``max_payload``.

    The server counts headers and payload together and closes a connection that sends more (nats-py checks the
    payload alone), so a message near the limit plus the reason would fail to dead-letter and stop the consumer.
    """
    if max_payload is None:
        return payload
    size = len(payload) + _FRAMING + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
    if size <= max_payload:
        return payload
    headers[TRUNCATED] = str(len(payload))
    room = max_payload - (size - len(payload)) - len(TRUNCATED) - len(headers[TRUNCATED]) - 4
    return payload[:max(room, 0)]


async def dead_letter(
    js: JetStreamContext,
    subjects: Subjects,
    *,
    component: str,
    reason: str,
    payload: bytes,
    subject: str,
    stream: str,
    sequence: int,
    headers: Mapping[str, str] | None = None,
    max_payload: int | None = None,
) -> None:
    """Store a message on the dead-letter stream with why it failed and where it came from.

    The original headers travel along (``letter_headers``); the dead letter's own ``Nats-Msg-Id`` is (stream,
    sequence, component), so dead-lettering the same message twice stores it once. With the connection's
    ``max_payload``, a payload too large to go beside the headers is cut to fit (``fit_payload``).
    """
    out = letter_headers(headers, component=component, reason=reason, subject=subject, stream=stream,
                         sequence=sequence)
    target = subjects.dead_letter(component)
    await js.publish(target, fit_payload(payload, out, max_payload), headers=out)
    telemetry.dead_lettered.add(1, {"messaging.destination.name": subject, "component": component})
