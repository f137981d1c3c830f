"""``ingenium order``: act on orders already sent (``cancel``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ingenium.cancel import CancelSent, cancel_request, send_cancel
from ingenium.cli.console import console, fail, nats_settings, run
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import IngeniumError
from ingenium.events import CancelRequest

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
        request = cancel_request(order_id, requested_by="cli", reason=reason)
    except IngeniumError as exc:
        fail(str(exc))
    sent = run(_cancel(nats_settings(), request, wait))
    console.print(json.dumps({"cancel_id": request.id, "stream": sent.stream, "seq": sent.sequence}),
                  highlight=False)
    answer = sent.answer
    if answer is not None:
        why = f": {answer.reason}" if answer.reason else ""
        console.print(f"{answer.update.value} (filled {answer.cum_quantity or 0}){why}", highlight=False)
        if answer.update.value != "canceled":
            raise typer.Exit(1)


async def _cancel(settings: Settings, request: CancelRequest, wait: float) -> CancelSent:
    nc = await connect_nats(settings)
    try:
        return await send_cancel(nc, settings, request, wait=wait)
    finally:
        await nc.drain()


def register(app: typer.Typer) -> None:
    """Add ``ingenium order`` to the root app."""
    app.add_typer(order_app, name="order")
