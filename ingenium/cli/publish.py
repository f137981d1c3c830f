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
from ingenium.errors import ConfigurationError, describe_validation_error, printable
from ingenium.events import EVENT_TYPES, MAX_EVENT_BYTES, Event
from ingenium.streams import ensure_streams


def read_event(kind: str, payload: str) -> Event:
    """The event ``ingenium publish KIND PAYLOAD`` sends: its JSON inline or, for ``@path``, read from a file.

    Raises:
        ConfigurationError: the kind is unknown, the file unreadable or over ``MAX_EVENT_BYTES``, or the JSON
            not a valid event (the message names the field).

    """
    model = EVENT_TYPES.get(kind)
    if model is None:
        raise ConfigurationError(f"unknown event kind {kind!r}: use one of {', '.join(EVENT_TYPES)}")
    data: bytes | str = payload
    if payload.startswith("@"):
        path = Path(payload[1:])
        shown = printable(payload[1:])
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_EVENT_BYTES + 1)  # no more than that is ever needed to refuse a file
        except OSError as exc:
            raise ConfigurationError(f"cannot read {shown}: {exc.strerror or exc}") from None
        except ValueError:  # a NUL byte in the path, which no file name can hold
            raise ConfigurationError(f"cannot read {shown}: a file name cannot contain a NUL byte") from None
        if len(data) > MAX_EVENT_BYTES:
            raise ConfigurationError(f"{shown} is over the {MAX_EVENT_BYTES}-byte limit for one event")
    try:
        return model.from_json(data)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid {kind} event: {describe_validation_error(exc)}") from None


def publish(
    kind: Annotated[str, typer.Argument(help="data, signal, order or execution.")],
    payload: Annotated[str, typer.Argument(help="The event's JSON, or @file.json.")],
) -> None:
    """Validate one event and publish it; prints its stream sequence, or `duplicate`."""
    try:
        event = read_event(kind, payload)
    except ConfigurationError as exc:
        fail(str(exc))

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
