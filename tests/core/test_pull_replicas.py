"""Replicas of a component on one durable are hot standbys: one gets the messages, another takes over when it dies.

Two real ``ingenium run`` processes of one strategy bind its durable. Only the pinned one handles bars; after a
SIGKILL the other is pinned once the server's pin times out, and carries on from the ack floor: every bar has one
signal, in order, and neither log shows the resets two replicas used to cause each other.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.bus import JetStreamBus
from ingenium.component import Component
from ingenium.config import Settings
from ingenium.consumers import GROUP, PinnedConsumerConfig, bind_consumer, consumer_config, ensure_consumer
from ingenium.errors import ConfigurationError
from ingenium.events import SignalEvent
from ingenium.testing import bar, eventually, spawn, stream_events
from tests.core.components import Echo

BARS = 120
BATCH = 5
RESETS = "resetting the consumer"
PINNED = "this replica is pinned now"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def output(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def started(child: subprocess.Popen[bytes], log: Path) -> None:
    def seen() -> bool:
        assert child.poll() is None, f"exited {child.returncode}:\n{output(log)}"
        return "strategy echo started" in output(log)

    await eventually(seen, timeout=180, interval=0.1)


@pytest.mark.timeout(600)
async def test_one_replica_handles_the_durable_and_the_other_takes_over_from_the_ack_floor_when_it_dies(
    bus: JetStreamBus, nc: Client, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"fetch_batch": BATCH})
    events = [bar("acme", 100 + i, minutes=i) for i in range(BARS)]
    await bus.publish_many(events)
    ids = [e.id for e in events]
    records = [tmp_path / f"handled-{n}.txt" for n in range(2)]
    logs = [tmp_path / f"replica-{n}.log" for n in range(2)]

    def replica(n: int) -> subprocess.Popen[bytes]:
        # A slow handler: the first replica dies with bars delivered to it but not acked.
        return spawn(["run", "tests.core.components:Echo", "--name", "echo", "-p", f"record={records[n]}",
                      "-p", "delay=0.05"], settings, log=logs[n])

    first = replica(0)
    second: subprocess.Popen[bytes] | None = None
    try:
        await started(first, logs[0])
        await eventually(lambda: len(lines(records[0])) >= 1, timeout=60)
        second = replica(1)
        await started(second, logs[1])
        await eventually(lambda: len(lines(records[0])) >= 40, timeout=120)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 60)
        # The standby had the durable's pull requests waiting all along and got nothing.
        assert lines(records[1]) == []
        by_first = lines(records[0])
        assert by_first == ids[: len(by_first)]

        await eventually(lambda: lines(records[1])[-1:] == ids[-1:], timeout=120)
        by_second = lines(records[1])
        # In order from the ack floor: at most the batch the first one handled but had not acked comes again.
        start = ids.index(by_second[0])
        assert by_second == ids[start:]
        assert len(by_first) - BATCH <= start <= len(by_first)
        signals = await stream_events(nc, settings, "signal")
        assert all(isinstance(s, SignalEvent) for s in signals)
        # One signal per bar, in bar order: a bar handled twice has the same signal id, which JetStream dropped.
        assert [s.price for s in signals if isinstance(s, SignalEvent)] == [e.bar.close for e in events]

        second.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(second.wait, 120) == 0, output(logs[1])
        assert output(logs[0]).count(PINNED) == 1, output(logs[0])
        assert output(logs[0]).count(RESETS) == 0, output(logs[0])
        assert output(logs[1]).count(PINNED) == 1, output(logs[1])
        # Taking over resets the consumer once, to deliver what the dead replica held; nothing resets after it.
        assert output(logs[1]).count(RESETS) <= 1, output(logs[1])
        assert "Traceback" not in output(logs[1])
    finally:
        for child in (first, second):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()


async def test_a_durable_made_without_the_priority_group_is_given_it_or_refused_in_one_line(
    nc: Client, settings: Settings
) -> None:
    component: Component = Echo(name="echo")
    config = consumer_config(component, settings, "data")
    stream = settings.subjects.stream("data")
    js = nc.jetstream()
    assert config.name is not None
    # A durable made before replicas were pinned: the same consumer without the group.
    old = PinnedConsumerConfig(**{**config.__dict__, "priority_groups": None, "priority_policy": None,
                                  "priority_timeout": None})
    await js.add_consumer(stream, old)

    # Provisioned: the component may not change it, so it names the fix.
    with pytest.raises(ConfigurationError, match=f"not \\[{GROUP!r}\\].*ingenium streams init"):
        await bind_consumer(js, stream, config)

    assert await ensure_consumer(js, stream, config) == f"updated consumer {config.name} on {stream}"
    await bind_consumer(js, stream, config)  # now as provisioned
    assert await ensure_consumer(js, stream, config) == f"consumer {config.name} on {stream} is up to date"
