"""Reading streams by batched direct get: in order, by range, by time and live, without creating a consumer."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from nats.aio.client import Client

from ingenium import streamread
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.streamread import StreamReader, read_stream
from ingenium.testing import T0, bar, order


@pytest.fixture(params=["batched", "one get per sequence"], autouse=True)
def protocol(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test reads both ways: batched direct gets (servers from 2.11), and the single gets older ones answer.

    The real server answers both; forcing the second here keeps it tested on a server that has the first.
    """
    if request.param != "batched":
        monkeypatch.setattr(streamread, "batched_direct_get", lambda nc: False)
    return str(request.param)


async def test_a_range_is_read_in_stream_order_in_batches_and_filtered(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    events = [bar("aapl" if i % 2 else "msft", str(100 + i), start=T0 + timedelta(minutes=i)) for i in range(25)]
    for event in events:
        await bus.publish(event)
    stream = settings.subjects.stream("data")
    every = [m async for m in read_stream(nc, stream, batch=4)]
    assert [m.sequence for m in every] == list(range(1, 26))
    assert [m.msg_id for m in every] == [e.id for e in events]
    aapl = [m async for m in read_stream(nc, stream, settings.subjects.data("aapl"), start_sequence=5, batch=3)]
    assert [m.sequence for m in aapl] == [6, 8, 10, 12, 14, 16, 18, 20, 22, 24]
    assert [m.sequence async for m in read_stream(nc, stream, start_sequence=20, end_sequence=22)] == [20, 21, 22]
    since = every[10].received_at
    later = [m.sequence async for m in read_stream(nc, stream, start_time=since)]
    assert later and later[-1] == 25 and later[0] <= 11 and all(
        m.received_at >= since - timedelta(microseconds=1) for m in every[later[0] - 1:])
    assert [m async for m in read_stream(nc, "NO_SUCH_STREAM")] == []
    # Deleted messages are skipped, even a whole batch of them, and the rest keep their order.
    for sequence in (3, 4, 5, 6, 13):
        await nc.jetstream().delete_msg(stream, sequence)
    kept = [m.sequence async for m in read_stream(nc, stream, batch=4)]
    assert kept == [1, 2, *range(7, 13), *range(14, 26)]
    reader = StreamReader(nc, stream, [], 2, batch=4)
    followed: list[int] = []
    while batch := await reader.read(wait=0.1):
        assert len(batch) <= 4
        followed += [m.sequence for m in batch]
    await reader.close()
    assert followed == kept[1:]
    # Nothing was made to read it: the streams keep only the consumers provisioning made (none here).
    assert (await nc.jetstream().stream_info(stream)).state.consumer_count == 0


async def test_the_reader_follows_the_stream_live_from_a_sequence(
    bus: JetStreamBus, nc: Client, settings: Settings
) -> None:
    stream = settings.subjects.stream("order")
    first = order()
    await bus.publish(first)
    reader = StreamReader(nc, stream, settings.subjects.stream_subjects("order"), 1, batch=10)
    try:
        assert [m.msg_id for m in await reader.read(wait=0.1)] == [first.id]
        assert await reader.read(wait=0.1) == []
        later = order()
        waiting = asyncio.create_task(reader.read(wait=30))
        await asyncio.sleep(0.05)
        await bus.publish(later)
        # Woken by the publish, long before the 30 s wait ends (the test's own timeout bounds it).
        assert [(m.sequence, m.msg_id) for m in await waiting] == [(2, later.id)]
        assert reader.next_sequence == 3 and reader.pending == 0
    finally:
        await reader.close()
    assert (await nc.jetstream().stream_info(stream)).state.consumer_count == 0
