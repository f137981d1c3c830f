"""What the runtime does with a message its handler could not handle: retry it, wait in place, or dead-letter it.

A handler that fails is retried with a growing delay (nak with delay) until ``max_attempts``; a message that does
not parse, or whose handler raises ``PermanentFailure``, goes to the dead-letter stream at once. A failure to
reach JetStream is the cluster's, not the message's: the message waits in place (``wait_in_place``) and is never
dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.msg import Msg

from ingenium import telemetry
from ingenium.bus import JetStreamBus, is_transient
from ingenium.config import Settings
from ingenium.deadletter import dead_letter
from ingenium.errors import PermanentFailure, PublishFailed

log = logging.getLogger("ingenium.runtime")


def jetstream_away(exc: Exception) -> bool:
    """Whether a handler failed because JetStream was unreachable (an election, a reconnect), not by itself."""
    return isinstance(exc, PublishFailed) or (isinstance(exc, nats.errors.Error) and is_transient(exc))


def jetstream_unanswered(exc: Exception) -> bool:
    """Whether a JetStream request failed for want of an answer (away, or a request lost in an election)."""
    return jetstream_away(exc) or isinstance(exc, TimeoutError)


async def wait_in_place(
    msg: Msg, why: str, attempt: int, *, component: str, settings: Settings, stopping: asyncio.Event
) -> None:
    """Pause before trying a message again in place, keeping the server from redelivering it meanwhile."""
    delay = min(settings.retry_backoff_seconds * 2 ** min(attempt - 1, 16), settings.ack_wait_seconds / 2)
    log.log(logging.WARNING if attempt == 1 else logging.DEBUG,
            "%s: %s seq %s waits (attempt %s, next in %.2fs; later messages wait too, to keep their order): %s",
            component, msg.subject, msg.metadata.sequence.stream, attempt, delay, why)
    telemetry.handler_retries.add(1, {"ingenium.component": component})
    with contextlib.suppress(nats.errors.Error):
        await msg.in_progress()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay):
            await stopping.wait()


async def retry_or_dead_letter(
    bus: JetStreamBus, msg: Msg, exc: Exception, *, component: str, settings: Settings
) -> bool:
    """Nak a message whose handler raised ``exc`` for a later retry, or dead-letter it; whether it was dead-lettered."""
    if isinstance(exc, PermanentFailure):
        await dead_letter_message(bus, msg, str(exc), component=component)
        return True
    attempts = msg.metadata.num_delivered
    if jetstream_away(exc):
        await msg.nak()  # stopping while JetStream is away: not the message's fault, never dead-lettered
        return False
    if attempts >= settings.max_attempts:
        await dead_letter_message(bus, msg, f"handler failed {attempts} times, last: {exc!r}", component=component)
        return True
    delay = settings.retry_backoff_seconds * 2 ** (attempts - 1)
    log.warning(
        "%s: handler failed on %s seq %s (attempt %s of %s), retrying in %.2fs: %r",
        component, msg.subject, msg.metadata.sequence.stream, attempts, settings.max_attempts, delay, exc,
    )
    telemetry.handler_retries.add(1, {"ingenium.component": component})
    await msg.nak(delay=delay)
    return False


async def dead_letter_message(bus: JetStreamBus, msg: Msg, reason: str, *, component: str) -> None:
    """Put ``msg`` on the dead-letter stream with ``reason`` and terminate it, so the consumer carries on."""
    meta = msg.metadata
    log.error("%s: dead-lettering %s seq %s: %s", component, msg.subject, meta.sequence.stream, reason)
    await dead_letter(
        bus.js,
        bus.subjects,
        component=component,
        reason=reason,
        payload=msg.data,
        subject=msg.subject,
        stream=meta.stream,
        sequence=meta.sequence.stream,
        headers=msg.headers,
        max_payload=bus.nc.max_payload,
    )
    await msg.term()
    telemetry.events_consumed.add(1, {"messaging.destination.name": msg.subject, "outcome": "dead_letter"})
