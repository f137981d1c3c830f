"""``ingenium publish``: validate one event and publish it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ingenium.bus import JetStreamBus
from ingenium.cli.console import console, fail, nats_settings, run
from ingenium.connection import connect_nats
from ingenium.errors import describe_validation_error
from ingenium.events import EVENT_TYPES, Event
from ingenium.streams import ensure_streams


def publish(
    kind: Annotated[str, typer.Argument(help="data, signal, order or execution.")],
    payload: Annotated[str, typer.Argument(help="The event's JSON, or @file.json.")],
) -> None:
    """Validate one event and publish it; prints its stream sequence, or `duplicate`."""
    model = EVENT_TYPES.get(kind)
    if model is None:
        fail(f"unknown event kind {kind!r}: use one of {', '.join(EVENT_TYPES)}")
    text = payload
    if payload.startswith("@"):
        try:
            text = Path(payload[1:]).read_text()
        except OSError as exc:
            fail(f"cannot read {payload[1:]}: {exc.strerror}")
    try:
        event: Event = model.model_validate_json(text)
    except ValidationError as exc:
        fail(f"invalid {kind} event: {describe_validation_error(exc)}")

    async def go() -> str:
        settings = nats_settings()
        nc = await connect_nats(settings, name="ingenium-cli")
        try:
            await ensure_streams(nc.jetstream(), settings)
            result = await JetStreamBus(nc, settings.subjects).publish(event)
        finally:
            await nc.drain()
        return "duplicate" if result.duplicate else json.dumps({"stream": result.stream, "seq": result.sequence})

    console.print(run(go()), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``publish`` to the root app."""
    app.command("publish")(publish)
