"""Live updates over server-sent events, driven by NATS.

``/api/v1/events?channel=…``:

* ``ledger``: an ``execution`` event for each execution published on the bus (so a page can say "fill AAPL 10 @
  101" at once), then a ``ledger`` event when the ledger has projected it (its checkpoints moved): pages re-fetch
  their server-rendered fragments then, so what they show is always the ledger's.
* ``portfolio``: the same, and a ``marks`` event (at most every two seconds) while new bars arrive on the data
  stream, so marked-to-market figures follow the prices.
* ``components``: a ``components`` event every two seconds with who answered discovery.
* ``run:<id>``: a backtest's ``progress`` events, as its worker reports them on NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from nats.aio.msg import Msg

from ledger import queries, runs
from services.web.auth import viewer
from services.web.discovery import discover
from services.web.runs import progress_subject
from services.web.state import WebState, web_state

router = APIRouter()

#: How often a page hears about components, and how often the ledger is checked without a bus message.
TICK_SECONDS = 2.0


async def _checkpoints(state: WebState) -> dict[str, int]:
    try:
        return await queries.checkpoints(state.reader_url)
    except Exception:  # before the first migration or while PostgreSQL restarts: nothing projected to show
        return {}


async def ledger_events(state: WebState, *, marks: bool = False) -> AsyncIterator[ServerSentEvent]:
    """Bus executions as they happen, and ledger progress once they are projected (with ``marks``: new bars)."""
    nc = state.nats()
    subjects = state.settings.subjects
    woken: asyncio.Queue[Msg] = asyncio.Queue()
    priced = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        await woken.put(msg)

    async def on_bar(msg: Msg) -> None:
        priced.set()

    subs = [await nc.subscribe(subjects.execution, cb=on_msg), await nc.subscribe(subjects.order, cb=on_msg)]
    if marks:
        subs.append(await nc.subscribe(subjects.all_data, cb=on_bar))
    loop = asyncio.get_running_loop()
    marked_at = 0.0
    try:
        last = await _checkpoints(state)
        yield ServerSentEvent(event="ledger", data=last)
        while True:
            if priced.is_set() and loop.time() - marked_at >= TICK_SECONDS:
                priced.clear()
                marked_at = loop.time()
                yield ServerSentEvent(event="marks", data={})
            with contextlib.suppress(TimeoutError):
                msg = await asyncio.wait_for(woken.get(), TICK_SECONDS)
                if msg.subject == subjects.execution:
                    with contextlib.suppress(ValueError):
                        yield ServerSentEvent(event="execution", data=json.loads(msg.data))
            # The ledger projects within milliseconds; look closely for a moment after a bus message.
            for _ in range(20):
                now = await _checkpoints(state)
                if now != last:
                    last = now
                    yield ServerSentEvent(event="ledger", data=now)
                    break
                if woken.empty():
                    await asyncio.sleep(0.1)
                else:
                    break
    finally:
        for sub in subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()


async def component_events(state: WebState) -> AsyncIterator[ServerSentEvent]:
    """Who answers discovery, every ``TICK_SECONDS``."""
    while True:
        views = await discover(state.nats(), state.settings.subjects)
        yield ServerSentEvent(event="components", data=[{"name": v.name, "replicas": v.replicas} for v in views])
        await asyncio.sleep(TICK_SECONDS)


async def run_events(state: WebState, run_id: str) -> AsyncIterator[ServerSentEvent]:
    """One run's progress until it is done or failed."""
    queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        with contextlib.suppress(ValueError):
            await queue.put(json.loads(msg.data))

    sub = await state.nats().subscribe(progress_subject(state.settings, run_id), cb=on_msg)
    try:
        run = await runs.get_run(state.reader_url, run_id)
        if run is None:
            yield ServerSentEvent(event="progress", data={"run_id": run_id, "status": "missing", "progress": 0})
            return
        yield ServerSentEvent(event="progress", data={"run_id": run_id, "status": run.status,
                                                      "progress": float(run.progress), "error": run.error})
        status = run.status
        while status not in ("done", "failed"):
            try:
                update = await asyncio.wait_for(queue.get(), TICK_SECONDS)
            except TimeoutError:  # a missed message (the worker started before we subscribed): ask the table
                fresh = await runs.get_run(state.reader_url, run_id)
                if fresh is None:
                    return
                update = {"run_id": run_id, "status": fresh.status, "progress": float(fresh.progress),
                          "error": fresh.error}
            status = str(update.get("status"))
            yield ServerSentEvent(event="progress", data=update)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


@router.get("/api/v1/events", response_class=EventSourceResponse, tags=["live"],
            responses={401: {"description": "Not logged in."}})
async def events(
    channel: Annotated[str, Query(pattern=r"^(ledger|portfolio|components|run:run-[0-9a-f]{12})$")] = "ledger",
    state: WebState = Depends(web_state),  # noqa: B008
    _: str = Depends(viewer),
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events of one channel: ``ledger``, ``portfolio``, ``components`` or ``run:<run id>``."""
    if channel in ("ledger", "portfolio"):
        source = ledger_events(state, marks=channel == "portfolio")
    elif channel == "components":
        source = component_events(state)
    else:
        source = run_events(state, channel.removeprefix("run:"))
    async for item in source:
        yield item
