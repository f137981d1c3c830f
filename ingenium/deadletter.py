"""The dead-letter stream: where a message that cannot be handled goes, with the reason, so nothing is lost."""

from __future__ import annotations

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
) -> None:
    """Store a message on the dead-letter stream with why it failed and where it came from.

    The original headers travel along; the dead letter's own ``Nats-Msg-Id`` is (stream, sequence,
    component), so dead-lettering the same message twice stores it once.
    """
    out = {k: v for k, v in (headers or {}).items() if k != MSG_ID}
    if headers and MSG_ID in headers:
        out[ORIGINAL_MSG_ID] = headers[MSG_ID]
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
    target = subjects.dead_letter(component)
    await js.publish(target, payload, headers=out)
    telemetry.dead_lettered.add(1, {"messaging.destination.name": subject, "component": component})
