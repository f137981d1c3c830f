"""What ``sync_interval: always`` costs: JetStream publish throughput against nats-server's default, same run.

Usage: python bench/sync.py [--events N] [--rounds N] [--cluster] [--dir PATH]

Starts two embedded nats-servers (or, with --cluster, two 3-node clusters with R3 streams) that differ only in
``sync_interval``: the default (fsync every 2 minutes, acks before the data is on disk) and ``always`` (fsync
before every ack, what INGENIUM_NATS_SYNC_INTERVAL=always sets). Publishes the same events through Ingenium's
bus to both, one at a time (a feed, a component's single publish) and pipelined (``publish_many``, a file load),
alternating servers over the rounds, and prints the median msg/s of each and the ratio always/default. The
stores go under --dir (default: the system temp dir), which must be a real disk: on tmpfs fsync costs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.events import Event
from ingenium.streams import ensure_streams
from ingenium.testing import bar


@contextmanager
def single(root: Path, sync_interval: str | None) -> Iterator[tuple[str, int]]:
    server = EmbeddedNats(root, sync_interval=sync_interval)
    try:
        yield server.start(), 1
    finally:
        server.stop()


@contextmanager
def cluster(root: Path, sync_interval: str | None) -> Iterator[tuple[str, int]]:
    from tests.cluster.harness import NatsCluster  # the test harness: three nats-servers on loopback

    nodes = NatsCluster(root, sync_interval=sync_interval)
    nodes.start()
    try:
        yield nodes.urls, 3
    finally:
        nodes.stop()


async def one_at_a_time(bus: JetStreamBus, events: list[Event]) -> float:
    start = time.perf_counter()
    for event in events:
        await bus.publish(event)
    return len(events) / (time.perf_counter() - start)


async def pipelined(bus: JetStreamBus, events: list[Event]) -> float:
    start = time.perf_counter()
    for i in range(0, len(events), 4000):
        await bus.publish_many(events[i : i + 4000])
    return len(events) / (time.perf_counter() - start)


async def measure(url: str, replicas: int, events: int) -> tuple[float, float]:
    settings = Settings(nats_url=url, namespace=f"sync{uuid.uuid4().hex[:6]}", stream_replicas=replicas)
    nc = await connect_nats(settings, name="bench-sync")
    try:
        await ensure_streams(nc.jetstream(), settings)
        bus = JetStreamBus(nc, settings.subjects)
        single_events: list[Event] = [bar("one", 100 + i % 50, minutes=i) for i in range(events // 4)]
        many_events: list[Event] = [bar("many", 100 + i % 50, minutes=i) for i in range(events)]
        return await one_at_a_time(bus, single_events), await pipelined(bus, many_events)
    finally:
        await nc.drain()


async def main(events: int, rounds: int, use_cluster: bool, directory: str | None) -> None:
    start: Callable[[Path, str | None], AbstractContextManager[tuple[str, int]]] = cluster if use_cluster else single
    root = Path(tempfile.mkdtemp(prefix="ingenium-bench-sync-", dir=directory))
    results: dict[str, list[tuple[float, float]]] = {"default": [], "always": []}
    with start(root / "default", None) as (default_url, replicas), start(root / "always", "always") as (always_url, _):
        for r in range(rounds):
            # Alternating which goes first spreads the machine's drift over both.
            order = [("default", default_url), ("always", always_url)]
            for mode, url in order if r % 2 == 0 else order[::-1]:
                results[mode].append(await measure(url, replicas, events))

    def median(mode: str, index: int) -> float:
        return statistics.median(result[index] for result in results[mode])

    where = "3-node cluster, R3 streams" if use_cluster else "single server"
    print(f"sync benchmark: {where}, {events} pipelined and {events // 4} single publishes per round, "
          f"median of {rounds} rounds, stores in {root.parent}")
    print(f"{'':32}{'default':>12}{'always':>12}{'ratio':>8}")
    for label, index in (("publish one at a time (msg/s)", 0), ("publish_many (msg/s)", 1)):
        default, always = median("default", index), median("always", index)
        print(f"{label:32}{default:12,.0f}{always:12,.0f}{always / default:8.2f}")
    print("ratio = always / default: what fsync before every ack costs in throughput on this disk")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=8_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cluster", action="store_true", help="two 3-node clusters with R3 streams")
    parser.add_argument("--dir", default=None, help="where the servers store (a real disk, not tmpfs)")
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds, args.cluster, args.dir))
