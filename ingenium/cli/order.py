"""``ingenium order``: act on orders already sent (``cancel``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from nats.aio.msg import Msg
from pydantic import ValidationError

from ingenium.bus import JetStreamBus
from ingenium.cli.console import console, fail, nats_settings, run
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.events import CancelRequest, ExecutionEvent
from ingenium.ids import new_id
from ingenium.runtime import describe_validation_error
from ingenium.streams import ensure_streams

order_app = typer.Typer(help="Act on orders already sent.", no_args_is_help=True)


@order_app.command("cancel")
def cancel(
    order_id: Annotated[str, typer.Argument(help="Id of the order to cancel (its `Id`, as `ingenium ledger orders` "
                                                 "shows it).")],
    reason: Annotated[str | None, typer.Option(help="Why; recorded with the request and the answer.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the executor's answer (0: do not wait).")] = 0,
) -> None:
    """Publish a cancel request for a working order; prints its id and stream sequence (and the answer)."""
    try:
        request = CancelRequest(id=new_id("cancel"), timestamp=datetime.now(UTC), order_id=order_id, reason=reason,
                                requested_by="cli")
    except ValidationError as exc:
        fail(f"invalid cancel request: {describe_validation_error(exc)}")
    answer = run(_cancel(nats_settings(), request, wait))
    if answer is not None:
        why = f": {answer.reason}" if answer.reason else ""
        console.print(f"{answer.update.value} (filled {answer.cum_quantity or 0}){why}", highlight=False)
        if answer.update.value != "canceled":
            raise typer.Exit(1)


async def _cancel(settings: Settings, request: CancelRequest, wait: float) -> ExecutionEvent | None:
    nc = await connect_nats(settings)
    answered: asyncio.Future[ExecutionEvent] = asyncio.get_running_loop().create_future()

    async def on_execution(msg: Msg) -> None:
        try:
            execution = ExecutionEvent.from_json(msg.data)
        except ValidationError:
            return  # somebody else's problem: the consumers of the stream dead-letter it
        if execution.cancel_id == request.id and not answered.done():
            answered.set_result(execution)

    try:
        await ensure_streams(nc.jetstream(), settings)
        # Subscribed before publishing, so an answer that comes at once is not missed.
        sub = await nc.subscribe(settings.subjects.execution, cb=on_execution) if wait > 0 else None
        stored = await JetStreamBus(nc, settings.subjects).publish(request)
        console.print(json.dumps({"cancel_id": request.id, "stream": stored.stream, "seq": stored.sequence}),
                      highlight=False)
        if sub is None:
            return None
        try:
            async with asyncio.timeout(wait):
                return await answered
        except TimeoutError:
            fail(f"no answer to cancel {request.id} within {wait:g}s: is an executor running? (an order it never "
                 "received is dead-lettered: `ingenium streams ls`)")
    finally:
        await nc.drain()


def register(app: typer.Typer) -> None:
    """Add ``ingenium order`` to the root app."""
    app.add_typer(order_app, name="order")
