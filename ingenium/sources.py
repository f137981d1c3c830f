"""Publishing what a component emits other than in answer to a message, live: its schedules and its own sources.

A schedule (``Component.schedules``) emits on the wall clock; a source (``Component.sources``) from a stream of
its own.

A venue's order updates come on a socket the component opened, not on the bus, but what the component makes of
them is published the way a handler's output is: the runtime calls the source's handler between message
handlers (never during one, so ids derived from the handled message stay the handler's own), stores the output,
and only then tells the component the item is done, as it acks a message only after its output is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from ingenium.bus import JetStreamBus
from ingenium.component import Component, Schedule, Source
from ingenium.events import Event

log = logging.getLogger("ingenium.runtime")
T = TypeVar("T")


async def publish_schedule(component: Component[Any], schedule: Schedule, bus: JetStreamBus, *,
                           handler_lock: asyncio.Lock, send_lock: asyncio.Lock, stopping: asyncio.Event) -> None:
    """Emit a schedule's events every ``schedule.every`` until stopped, each batch stored before the next."""
    every = schedule.every.total_seconds()
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await stopping.wait()
        if stopping.is_set():
            return
        emitted: list[Event] = []
        try:
            # Between handlers, never inside one: an async handler's ids and outbox stay its own.
            async with handler_lock:
                component.begin(None)
                emitted = component.collect(schedule.emit())
            if emitted:
                async with send_lock:
                    futures = [await bus.send(e) for e in emitted]
                await bus.confirm(emitted, futures)
        except Exception as exc:
            log.exception("%s: scheduled output not stored (%d events); tried again next time",
                          component.name, len(emitted))
            if schedule.failed is not None:
                schedule.failed(emitted, exc)


async def publish_source(component: Component[Any], source: Source[T], bus: JetStreamBus, *,
                         handler_lock: asyncio.Lock, send_lock: asyncio.Lock, stopping: asyncio.Event) -> None:
    """Handle and publish ``source``'s items one at a time until ``stopping`` is set or the items end."""
    items = source.items()
    try:
        while (item := await _next_unless_stopped(items, stopping)) is not None:
            emitted: list[Event] = []
            try:
                async with handler_lock:
                    component.begin(None)
                    emitted = component.collect(await source.handle(item[0]))
                if emitted:
                    async with send_lock:
                        futures = [await bus.send(e) for e in emitted]
                    await bus.confirm(emitted, futures)
            except Exception as exc:
                log.exception("%s: output of its own source not stored (%d events)", component.name, len(emitted))
                source.failed(item[0], exc)
                continue
            await source.stored(item[0])
    finally:
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


async def _next_unless_stopped(items: AsyncIterator[T], stopping: asyncio.Event) -> tuple[T] | None:
    """The next item (in a tuple, since an item may be anything), or ``None`` at a stop or the end."""
    if stopping.is_set():
        return None
    step = asyncio.ensure_future(anext(items))
    stopper = asyncio.create_task(stopping.wait())
    await asyncio.wait([step, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not step.done():
        step.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await step
        return None
    try:
        return (step.result(),)
    except StopAsyncIteration:
        return None
