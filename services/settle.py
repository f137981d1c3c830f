"""Waiting until a running loop settles: every consumer caught up, the ledger projected everything.

The demo, the end-to-end tests and the loop benchmark wait on these conditions instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from ingenium.component import HANDLERS, Component
from ingenium.errors import IngeniumError
from ingenium.subjects import StreamKey, Subjects


class LoopTimeout(IngeniumError):
    """The loop did not settle in time; the message says which part was still busy."""


def consumers_of(components: Iterable[Component]) -> list[tuple[StreamKey, str]]:
    """(stream key, durable name) of every consumer the runtime creates for ``components``, in pipeline order.

    Data consumers come first, then signal, order and execution consumers: ``busy_consumers`` checks them in
    this order, so when one pass finds all idle, nothing upstream can still produce work for a later consumer.
    """
    stages = list(HANDLERS)
    pairs = [(key, f"{c.name}-{key}") for c in components for key in c.consumes()]
    return sorted(pairs, key=lambda pair: stages.index(pair[0]))


async def busy_consumers(
    js: JetStreamContext, subjects: Subjects, consumers: Iterable[tuple[StreamKey, str]]
) -> list[str]:
    """Consumers that still have messages to deliver or to be acknowledged."""
    busy = []
    for key, durable in consumers:
        try:
            info = await js.consumer_info(subjects.stream(key), durable)
        except NotFoundError:
            busy.append(f"{durable} (not created yet)")
            continue
        if info.num_pending or info.num_ack_pending:
            busy.append(f"{durable} ({info.num_pending} pending, {info.num_ack_pending} unacked)")
    return busy


async def ledger_lag(js: JetStreamContext, subjects: Subjects, conn: asyncpg.Connection) -> list[str]:
    """Streams whose last sequence the ledger's checkpoint has not reached."""
    lagging = []
    keys: tuple[StreamKey, ...] = ("order", "execution")
    for key in keys:
        stream = subjects.stream(key)
        last = (await js.stream_info(stream)).state.last_seq
        checkpoint = await conn.fetchval("SELECT last_sequence FROM ledger_checkpoints WHERE stream = $1", stream)
        if (checkpoint or 0) < last:
            lagging.append(f"ledger at #{checkpoint or 0} of {stream} #{last}")
    return lagging


async def wait_until(
    check: Callable[[], Awaitable[list[str]]],
    *,
    within: float,
    what: str,
    interval: float = 0.005,
    settle: int = 1,
) -> None:
    """Poll ``check`` (which lists what is still busy) until it lists nothing ``settle`` times in a row."""
    deadline = time.monotonic() + within
    quiet = 0
    busy: list[str] = []
    while time.monotonic() < deadline:
        busy = await check()
        quiet = quiet + 1 if not busy else 0
        if quiet >= settle:
            return
        await asyncio.sleep(interval if busy else 0)
    raise LoopTimeout(f"{what} did not settle within {within:.0f}s: still busy: {'; '.join(busy)}")


async def finish(task: asyncio.Task[None], *, within: float = 10.0) -> BaseException | None:
    """Wait for a task that was asked to stop; cancel it if it does not within ``within`` seconds.

    Returns what the task raised (``None`` if it ended cleanly or had to be cancelled). Cancelling is retried:
    on Python 3.11 ``asyncio.wait_for`` can swallow one cancellation that races with its inner future.
    """
    done, _ = await asyncio.wait([task], timeout=within)
    attempts = 0
    while not done and attempts < 5:
        attempts += 1
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2.0)
    if not done:
        raise LoopTimeout(f"task {task.get_name()} ignored being stopped and cancelled")
    if task.cancelled():
        return None
    return task.exception()
