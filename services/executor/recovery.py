"""Live start-up of the paper executor: its order log bucket, the latest prices, and orders still working."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from ingenium.component import Component
from ingenium.config import Settings
from ingenium.events import ExecutionEvent, ExecutionUpdate, Ohlc
from ingenium.lastbar import last_bar
from ingenium.streamread import read_stream
from services.executor.orderlog import WorkingRecord, open_order_log
from services.executor.state import ExecutorState
from services.executor.working import WorkingOrder

#: How far before a working order's acceptance the execution scan starts, for clock skew between hosts.
_SKEW = timedelta(minutes=5)
_FINAL = (ExecutionUpdate.CANCELED, ExecutionUpdate.REJECTED, ExecutionUpdate.EXPIRED)


async def recover(executor: Component[Any]) -> ExecutorState | None:
    """Open the KV order log, read the latest bar per symbol and the orders that were working, live.

    ``None`` in a replay or a backtest, where the in-memory log stays in place. Orders the log holds as working
    but whose executions show them finished are marked finished in the log.
    """
    context = executor.context
    if context is None or not context.live:
        return None
    js = context.jetstream()
    settings = context.settings
    log = await open_order_log(js, settings, executor.name)
    bars = await latest_bars(js, settings, executor.symbols)
    records = await log.working()
    if not records:
        return ExecutorState(log, bars, ())
    assert context.nc is not None  # live
    resumed, finished = await replay_working(context.nc, settings, records)
    await log.finished(finished)
    executor.log.info("%s: resumed %d working orders (%d had finished)", executor.name, len(resumed), len(finished))
    return ExecutorState(log, bars, tuple(resumed))


async def latest_bars(js: JetStreamContext, settings: Settings, symbols: Sequence[str] | None) -> dict[str, Ohlc]:
    """The last stored bar of each symbol (all symbols when ``None``), so a restart need not wait for new bars."""
    subjects = settings.subjects
    stream = subjects.stream("data")
    if symbols is not None:
        wanted = [subjects.data(s) for s in symbols]
    else:
        try:
            info = await js.stream_info(stream, subjects_filter=subjects.all_data)
        except NotFoundError:
            return {}
        wanted = sorted((info.state.subjects or {}).keys())
    bars: dict[str, Ohlc] = {}
    for subject in wanted:
        event = await last_bar(js, stream, subject)  # the last bar, though trades and quotes may follow it
        if event is not None:
            bars[event.symbol] = event.bar
    return bars


async def replay_working(
    nc: Client, settings: Settings, records: list[WorkingRecord]
) -> tuple[list[WorkingOrder], list[str]]:
    """Rebuild working orders from their executions in the stream; returns (still working, finished ids)."""
    state = {r.order.id: WorkingOrder(r.order, r.after, r.day) for r in records}
    final: set[str] = set()
    seen: set[str] = set()
    since = min(r.accepted_at for r in records) - _SKEW
    subjects = settings.subjects
    async for msg in read_stream(nc, subjects.stream("execution"), subjects.execution, start_time=since):
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
