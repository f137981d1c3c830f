"""Publishing through the death of the stream's leader: every event stored once, no error for the publisher."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ingenium.bus import JetStreamBus, Published
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.testing import bar, eventually, stream_events
from tests.cluster.harness import NatsCluster, provision_streams, stream_leader

pytestmark = pytest.mark.cluster

EVENTS = 1500
CHUNK = 50


async def test_publishes_in_flight_when_the_leader_dies_are_stored_once(cluster: NatsCluster, tmp_path: Path) -> None:
    settings = Settings(nats_url=cluster.urls, data_dir=tmp_path / "data", stream_replicas=3)
    nc = await connect_nats(settings, name="publisher")
    try:
        js = nc.jetstream()
        await provision_streams(nc, settings)
        stream = settings.subjects.stream("data")
        leader = await stream_leader(js, stream)
        bus = JetStreamBus(nc, settings.subjects)
        events = [bar("acme", 100 + i % 7, minutes=i) for i in range(EVENTS)]

        async def publish_all() -> list[Published]:
            out: list[Published] = []
            for start in range(0, EVENTS, CHUNK):
                chunk = events[start : start + CHUNK]
                if start % (4 * CHUNK) == 0:
                    out += [await bus.publish(e) for e in chunk]  # one at a time, as a feed with one symbol does
                else:
                    out += await bus.publish_many(chunk)
            return out

        publishing = asyncio.create_task(publish_all())

        async def some_stored() -> bool:
            return (await js.stream_info(stream)).state.messages >= EVENTS // 5

        await eventually(some_stored, timeout=60)
        cluster.kill(leader)  # SIGKILL, mid-run: the stream elects a new leader among the two others
        published = await asyncio.wait_for(publishing, 120)
        stored = await stream_events(nc, settings, "data")
    finally:
        await nc.drain()

    assert sorted(e.id for e in stored) == sorted(e.id for e in events)  # all there, none twice
    # Each publish got the sequence its event is stored at (a retry whose first copy had landed: a duplicate).
    assert len({p.sequence for p in published}) == len(published) == EVENTS
