"""Streams and dead letters for the Streams page: stream state, consumers, the dead-letter browser, republishing."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

import nats.errors
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from ingenium import deadletter
from ingenium.bus import MSG_ID
from ingenium.config import Settings
from ingenium.permissions import inbox_prefix, permissions
from ingenium.streams import StreamStatus, list_streams

#: Header a republished message carries: the dead-letter sequence it came from (its audit trail).
REPUBLISHED_FROM = "Ingenium-Republished-From"


@dataclass
class StreamView:
    """One stream and its consumers' names."""

    status: StreamStatus
    consumers: list[str]


@dataclass
class DeadLetter:
    """One dead-lettered message: why, from where, and the original body."""

    sequence: int
    stored_at: datetime | None
    component: str
    reason: str
    subject: str
    stream: str
    original_sequence: str
    msg_id: str
    payload: str
    headers: dict[str, str]
    data: bytes


async def streams(nc: Client, settings: Settings) -> list[StreamView]:
    """Each Ingenium stream's messages, bytes, sequences and consumer names."""
    js = nc.jetstream()
    out = []
    for status in await list_streams(js, settings):
        names: list[str] = []
        with contextlib.suppress(NotFoundError):
            names = sorted(c.name for c in await js.consumers_info(status.name) if c.name)
        out.append(StreamView(status, names))
    return out


def _dead_letter(seq: int, time: datetime | None, data: bytes | None, headers: dict[str, str] | None) -> DeadLetter:
    h = headers or {}
    return DeadLetter(
        sequence=seq, stored_at=time, component=h.get(deadletter.COMPONENT, ""), reason=h.get(deadletter.REASON, ""),
        subject=h.get(deadletter.ORIGINAL_SUBJECT, ""), stream=h.get(deadletter.ORIGINAL_STREAM, ""),
        original_sequence=h.get(deadletter.ORIGINAL_SEQUENCE, ""), msg_id=h.get(deadletter.ORIGINAL_MSG_ID, ""),
        payload=(data or b"").decode("utf-8", errors="replace"), headers=dict(h),
        data=data or b"",
    )


async def dead_letters(
    nc: Client, settings: Settings, *, limit: int = 50, before: int | None = None
) -> list[DeadLetter]:
    """The newest dead letters first (``before``: only sequences below it, for paging)."""
    js = nc.jetstream()
    name = settings.subjects.stream("deadletter")
    try:
        state = (await js.stream_info(name)).state
    except NotFoundError:
        return []
    out: list[DeadLetter] = []
    seq = min(state.last_seq, (before - 1) if before else state.last_seq)
    while seq >= max(state.first_seq, 1) and len(out) < limit:
        with contextlib.suppress(NotFoundError):
            msg = await js.get_msg(name, seq)
            out.append(_dead_letter(seq, msg.time, msg.data, msg.headers))
        seq -= 1
    return out


async def dead_letter(nc: Client, settings: Settings, seq: int) -> DeadLetter | None:
    """One dead letter by its sequence, or ``None``."""
    try:
        msg = await nc.jetstream().get_msg(settings.subjects.stream("deadletter"), seq)
    except NotFoundError:
        return None
    return _dead_letter(seq, msg.time, msg.data, msg.headers)


async def republish(nc: Client, settings: Settings, seq: int) -> int:
    """Publish dead letter ``seq``'s original body again on its original subject; returns the new sequence.

    Its message id is derived from the dead letter, so republishing the same one twice (a double click) is
    stored once inside the duplicate window. Raises ``PermissionError`` (one line saying what to do) when the
    secure stack's web user may not publish on its subject (it may publish cancel requests only), or when
    JetStream does not acknowledge it (a user of narrower rights, or JetStream away).
    """
    letter = await dead_letter(nc, settings, seq)
    if letter is None:
        raise LookupError(f"no dead letter {seq} in {settings.subjects.stream('deadletter')}")
    if not letter.subject:
        raise ValueError(f"dead letter {seq} does not say which subject it came from")
    if settings.nats_inbox_prefix == inbox_prefix("web") and not permissions("web", settings.subjects).may_publish(
            letter.subject):
        # Asking anyway would only time out: nats-server drops the publish and tells the connection, not us.
        raise PermissionError(
            f"the web UI connects as the secure stack's web user, which may not publish on {letter.subject}: "
            "republish the body shown here as the operator, with `ingenium publish KIND @letter.json`"
        )
    headers = {k: v for k, v in letter.headers.items() if not k.startswith(("Ingenium-", "Nats-"))}
    headers[MSG_ID] = f"republish:{settings.subjects.stream('deadletter')}:{seq}"
    headers[REPUBLISHED_FROM] = str(seq)
    try:
        ack = await nc.jetstream().publish(letter.subject, letter.data, headers=headers)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
        raise PermissionError(
            f"dead letter {seq} was not stored again on {letter.subject} ({type(exc).__name__}): JetStream is "
            "down, or this web UI's NATS user may not publish there (on `ingenium up --secure` it publishes only "
            "cancel requests); republish it as the operator with `ingenium publish KIND @file.json` (its body)"
        ) from None
    return int(ack.seq)
