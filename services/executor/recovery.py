"""Live start-up of the paper executor: its order log bucket, the latest prices, and orders still working."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.config import Settings
from ingenium.events import DataEvent, ExecutionEvent, ExecutionUpdate
from services.executor.orderlog import WorkingRecord, open_order_log
from services.streamread import read_stream

if TYPE_CHECKING:
    from services.executor.paper import PaperExecutor, WorkingOrder

#: How far before a working order's acceptance the execution scan starts, for clock skew between hosts.
_SKEW = timedelta(minutes=5)
_FINAL = (ExecutionUpdate.CANCELED, ExecutionUpdate.REJECTED, ExecutionUpdate.EXPIRED)


async def restore(executor: PaperExecutor) -> None:
    """Open the KV order log, seed the latest bar per symbol, and resume orders that were working.

    Does nothing in an in-process run (no NATS connection), where the in-memory log stays in place.
    """
    context = executor.context
    if context is None or context.nc is None:
        return
    js = context.nc.jetstream()
    settings = context.settings
    log = await open_order_log(js, settings, executor.name)
    executor.order_log = log
    await seed_prices(executor, js, settings)
    records = await log.working()
    if not records:
        return
    resumed, finished = await replay_working(js, settings, records, executor)
    for working in resumed:
        executor.resume(working)
    await log.finished(finished)
    executor.log.info("%s: resumed %d working orders (%d had finished)", executor.name, len(resumed), len(finished))


async def seed_prices(executor: PaperExecutor, js: JetStreamContext, settings: Settings) -> None:
    """Take the last stored bar of each symbol as its latest price, so a restart need not wait for new bars."""
    subjects = settings.subjects
    stream = subjects.stream("data")
    if executor.symbols is not None:
        wanted = [subjects.data(s) for s in executor.symbols]
    else:
        try:
            info = await js.stream_info(stream, subjects_filter=subjects.all_data)
        except NotFoundError:
            return
        wanted = sorted((info.state.subjects or {}).keys())
    for subject in wanted:
        try:
            msg = await js.get_last_msg(stream, subject)
            event = DataEvent.from_json(msg.data or b"")
        except (NotFoundError, ValidationError):
            continue
        if event.ohlc is not None:
            executor.remember_bar(event.symbol, event.ohlc)


async def replay_working(
    js: JetStreamContext, settings: Settings, records: list[WorkingRecord], executor: PaperExecutor
) -> tuple[list[WorkingOrder], list[str]]:
    """Rebuild working orders from their executions in the stream; returns (still working, finished ids)."""
    from services.executor.paper import WorkingOrder

    state = {r.order.id: WorkingOrder(r.order, r.after, r.day) for r in records}
    final: set[str] = set()
    seen: set[str] = set()
    since = min(r.accepted_at for r in records) - _SKEW
    subjects = settings.subjects
    async for msg in read_stream(js, subjects.stream("execution"), subjects.execution, start_time=since):
        try:
            event = ExecutionEvent.from_json(msg.data)
        except ValidationError:
            continue
        working = state.get(event.order_id)
        if working is None:
            continue
        if event.is_fill:
            if event.fill_id in seen:
                continue
            seen.add(event.fill_id)
            working.filled += event.quantity
            working.notional += event.quantity * event.price
            working.fills += 1
            if working.leaves <= 0:
                final.add(event.order_id)
        elif event.update in _FINAL:
            final.add(event.order_id)
    resumed = [w for order_id, w in state.items() if order_id not in final]
    return resumed, sorted(final)
