"""Asking for a working order to be canceled from outside the components (the CLI, the web UI).

One implementation for both: a ``CancelRequest`` is built, published on ``ingenium.portfolio.cancel`` and,
when asked to, the executor's answer (the ``canceled`` or ``cancel_rejected`` execution carrying the request's
id) is awaited.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from pydantic import ValidationError

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.errors import ConfigurationError, IngeniumError, describe_validation_error
from ingenium.events import CancelRequest, ExecutionEvent
from ingenium.ids import new_id
from ingenium.streams import ensure_streams


class NoAnswer(IngeniumError):
    """No executor answered a cancel request in time."""


@dataclass(frozen=True, slots=True)
class CancelSent:
    """A published cancel request: where it is stored, and the executor's answer when one was awaited."""

    request: CancelRequest
    stream: str
    sequence: int
    answer: ExecutionEvent | None = None


def cancel_request(order_id: str, *, requested_by: str, reason: str | None = None) -> CancelRequest:
    """A new request to cancel ``order_id``; a clear ``ConfigurationError`` when a field is invalid."""
    try:
        return CancelRequest(id=new_id("cancel"), timestamp=datetime.now(UTC), order_id=order_id, reason=reason,
                             requested_by=requested_by)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid cancel request: {describe_validation_error(exc)}") from None


async def send_cancel(nc: Client, settings: Settings, request: CancelRequest, *, wait: float = 0) -> CancelSent:
    """Publish ``request``; with ``wait`` > 0, also wait that many seconds for the executor's answer.

    Raises:
        NoAnswer: ``wait`` passed without an answer.

    """
    answered: asyncio.Future[ExecutionEvent] = asyncio.get_running_loop().create_future()

    async def on_execution(msg: Msg) -> None:
        try:
            execution = ExecutionEvent.from_json(msg.data)
        except ValidationError:
            return  # somebody else's problem: the consumers of the stream dead-letter it
        if execution.cancel_id == request.id and not answered.done():
            answered.set_result(execution)

    await ensure_streams(nc.jetstream(), settings)
    # Subscribed before publishing, so an answer that comes at once is not missed.
    sub = await nc.subscribe(settings.subjects.execution, cb=on_execution) if wait > 0 else None
    try:
        stored = await JetStreamBus(nc, settings.subjects).publish(request)
        if sub is None:
            return CancelSent(request, stored.stream, stored.sequence)
        try:
            async with asyncio.timeout(wait):
                answer = await answered
        except TimeoutError:
            raise NoAnswer(f"no answer to cancel {request.id} within {wait:g}s: is an executor running? (an order "
                           "it never received is dead-lettered: `ingenium streams ls`)") from None
        return CancelSent(request, stored.stream, stored.sequence, answer)
    finally:
        if sub is not None:
            await sub.unsubscribe()
