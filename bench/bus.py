"""Bus throughput and latency: Ingenium's library against raw nats-py on the same server, in the same run.

Usage: python bench/bus.py [--events N] [--latency-samples N]

Starts an embedded nats-server (or uses INGENIUM_NATS_URL with a fresh namespace) and prints, for publish and
consume, raw nats-py msg/s, Ingenium msg/s and their ratio, then data-to-handler latency p50/p99 for both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.embedded import EmbeddedNats
from ingenium.events import DataEvent
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.streams import ensure_streams
from ingenium.testing import bar


class Counter(Strategy):
    """Counts bars and records when each arrived (a handler that does no work of its own)."""

    def __init__(self, target: int, sent: dict[str, float] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target = target
        self.count = 0
        self.sent = sent
        self.latencies: list[float] = []
        self.done = asyncio.Event()

    def on_data(self, event: DataEvent) -> None:
        self.count += 1
        if self.sent is not None:
            self.latencies.append(time.perf_counter() - self.sent[event.id])
        if self.count >= self.target:
            self.done.set()


async def raw_publish(nc: Client, subject: str, payloads: list[tuple[str, dict[str, object]]]) -> float:
    js = nc.jetstream(publish_async_max_pending=4000)
    start = time.perf_counter()
    futures = [
        await js.publish_async(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": msg_id})
        for msg_id, body in payloads
    ]
    await asyncio.gather(*futures)
    return len(payloads) / (time.perf_counter() - start)


async def raw_consume(nc: Client, stream: str, subject: str, n: int, batch: int) -> float:
    js = nc.jetstream()
    sub = await js.pull_subscribe(subject, durable=f"raw-{uuid.uuid4().hex[:6]}", stream=stream,
                                  config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT,
                                                        deliver_policy=DeliverPolicy.ALL))
    got = 0
    start = time.perf_counter()
    while got < n:
        for msg in await sub.fetch(batch, timeout=5):
            json.loads(msg.data)
            await msg.ack()
            got += 1
    rate = n / (time.perf_counter() - start)
    await sub.unsubscribe()
    return rate


async def library_consume(settings: Settings, nc: Client, n: int) -> float:
    counter = Counter(n, name=f"bench-{uuid.uuid4().hex[:6]}")
    runner = Runner(counter, settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    start = time.perf_counter()
    await counter.done.wait()
    rate = n / (time.perf_counter() - start)
    runner.stop()
    await task
    return rate


async def raw_latency(nc: Client, settings: Settings, samples: int) -> list[float]:
    js = nc.jetstream()
    subject = settings.subjects.data("lat-raw")
    sub = await js.pull_subscribe(subject, durable="raw-latency", stream=settings.subjects.stream("data"))
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < samples:
            try:
                msgs = await sub.fetch(settings.fetch_batch, timeout=1)
            except TimeoutError:
                continue
            for msg in msgs:
                body = json.loads(msg.data)
                latencies.append(time.perf_counter() - sent[body["Id"]])
                await msg.ack()

    task = asyncio.create_task(consume())
    for i in range(samples):
        event = bar("lat-raw", 100, minutes=i)
        sent[event.id] = time.perf_counter()
        await js.publish(subject, event.to_json(), headers={"Nats-Msg-Id": event.id})
        await asyncio.sleep(0.001)
    await task
    return latencies


async def library_latency(settings: Settings, nc: Client, bus: JetStreamBus, samples: int) -> list[float]:
    sent: dict[str, float] = {}
    counter = Counter(samples, sent, name="bench-latency", symbols=["lat-lib"])
    runner = Runner(counter, settings, nc=nc)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    for i in range(samples):
        event = bar("lat-lib", 100, minutes=i)
        sent[event.id] = time.perf_counter()
        await bus.publish(event)
        await asyncio.sleep(0.001)
    await counter.done.wait()
    runner.stop()
    await task
    return counter.latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


async def main(events: int, samples: int) -> None:
    server = None
    url = os.environ.get("INGENIUM_NATS_URL")
    if not url:
        server = EmbeddedNats(Path(tempfile.mkdtemp(prefix="ingenium-bench-")))
        url = server.start()
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    settings = Settings(nats_url=url, namespace=namespace, fetch_batch=200)
    try:
        nc = await connect_nats(settings, name="bench")
        await ensure_streams(nc.jetstream(), settings)
        bus = JetStreamBus(nc, settings.subjects)
        raw_bars = [bar("rawsym", 100 + i % 50, minutes=i) for i in range(events)]
        raw_payloads = [(b.id, json.loads(b.to_json())) for b in raw_bars]
        lib_bars = [bar("libsym", 100 + i % 50, minutes=i) for i in range(events)]

        raw_pub = await raw_publish(nc, settings.subjects.data("rawsym"), raw_payloads)
        start = time.perf_counter()
        for i in range(0, events, 4000):
            await bus.publish_many(lib_bars[i : i + 4000])
        lib_pub = events / (time.perf_counter() - start)

        raw_sub = await raw_consume(nc, settings.subjects.stream("data"), settings.subjects.data("rawsym"),
                                    events, settings.fetch_batch)
        lib_settings = settings.model_copy(update={"namespace": namespace})
        lib_sub = await library_consume(lib_settings, nc, events)

        raw_lat = await raw_latency(nc, settings, samples)
        lib_lat = await library_latency(settings, nc, bus, samples)
        await nc.drain()
    finally:
        if server is not None:
            server.stop()

    print(f"bus benchmark: {events} events of {len(raw_bars[0].to_json())} bytes, fetch batch {settings.fetch_batch}")
    print(f"{'':28}{'raw nats-py':>14}{'ingenium':>14}{'ratio':>8}")
    print(f"{'publish (msg/s)':28}{raw_pub:14,.0f}{lib_pub:14,.0f}{lib_pub / raw_pub:8.2f}")
    print(f"{'consume + ack (msg/s)':28}{raw_sub:14,.0f}{lib_sub:14,.0f}{lib_sub / raw_sub:8.2f}")
    print(f"{'latency p50 (ms)':28}{pct(raw_lat, 50):14.2f}{pct(lib_lat, 50):14.2f}")
    print(f"{'latency p99 (ms)':28}{pct(raw_lat, 99):14.2f}{pct(lib_lat, 99):14.2f}")
    print("target: ingenium within 80% of raw nats-py (ratio >= 0.80)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--latency-samples", type=int, default=2_000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.latency_samples))
