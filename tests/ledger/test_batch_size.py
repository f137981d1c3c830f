"""Batches are cut by bytes as well as by count: a batch's audit rows reach PostgreSQL as one JSON value, which
may not exceed 256 MB, so a run of large messages must not make one batch too large to write.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.streamread import StreamMessage
from ingenium.testing import eventually
from ledger.batch import BatchResult
from ledger.config import LedgerConfig
from ledger.messages import parse
from ledger.projector import Projector, cut_by_size, message_bytes
from tests.ledger.support import TEST_CONFIG, fetch, publish_raw, wait_caught_up

AT = datetime(2024, 3, 1, tzinfo=UTC)


class _Counting(Projector):
    """A projector that notes the message bytes of each batch it commits."""

    def __init__(self, settings: Settings, config: LedgerConfig) -> None:
        super().__init__(settings, config)
        self.sizes: list[int] = []

    def _committed(self, result: BatchResult, started: int) -> None:
        self.sizes.append(message_bytes(result.parsed))
        super()._committed(result, started)


def _messages(*sizes: int) -> list[StreamMessage]:
    return [StreamMessage("S", i + 1, "s.order", b"x" * size, None, AT) for i, size in enumerate(sizes)]


def test_a_batch_is_cut_before_it_reaches_the_limit_and_keeps_stream_order() -> None:
    parsed = [parse(message, "order") for message in _messages(40, 40, 30, 100, 10, 10)]
    parts = cut_by_size(parsed, 100)
    assert [[item.message.sequence for item in part] for part in parts] == [[1, 2], [3], [4], [5, 6]]
    assert cut_by_size(parsed[:2], 1000) == [parsed[:2]]


async def test_large_poison_messages_are_projected_in_batches_under_the_limit(
    nc: Client, ledger_settings: Settings
) -> None:
    # 40 unparseable messages of 200 kB (kept whole, raw) under a 1 MiB limit: parts of 5, merged two at most.
    bodies = [bytes([65 + i % 26]) * 200_000 for i in range(40)]
    for body in bodies:
        await publish_raw(nc, ledger_settings, body, kind="order")
    config = LedgerConfig(**{**TEST_CONFIG.model_dump(), "max_batch_bytes": 2**20})
    projector = _Counting(ledger_settings, config)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    try:
        await eventually(lambda: projector.active.is_set() or task.done())
        await wait_caught_up(nc, ledger_settings)
    finally:
        stop.set()
        await task
    assert len(projector.sizes) >= 4 and max(projector.sizes) < 2 * 2**20, projector.sizes
    rows = await fetch(ledger_settings.database_url or "", "SELECT raw FROM ledger_events ORDER BY stream_sequence")
    assert [row["raw"] for row in rows] == bodies
