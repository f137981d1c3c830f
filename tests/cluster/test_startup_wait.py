"""A component started while its streams have no leader waits for them, bounded, instead of exiting (#16).

Two of three nodes are killed, so the R3 streams cannot elect leaders: JetStream does not answer for them, as
during an election. A component started then logs that it waits, and binds once the nodes are back; with a short
``startup_wait_seconds`` it gives up in one line naming the setting.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.errors import ConnectionFailed
from ingenium.runtime import Runner
from tests.cluster.harness import NatsCluster, provision_streams
from tests.core.components import Echo

pytestmark = pytest.mark.cluster


async def streams_then_two_nodes_down(cluster: NatsCluster, settings: Settings) -> None:
    nc = await connect_nats(settings, name="test-setup")
    try:
        await provision_streams(nc, settings)
    finally:
        await nc.close()
    cluster.kill("n1")
    cluster.kill("n2")


def cluster_settings(cluster: NatsCluster, tmp_path: Path, wait: float) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", nats_url=cluster.nodes["n0"].url,  # type: ignore[call-arg]
                    stream_replicas=3, startup_wait_seconds=wait)


@pytest.mark.timeout(240)
async def test_a_component_started_without_stream_leaders_waits_and_binds_when_they_return(
    cluster: NatsCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = cluster_settings(cluster, tmp_path, wait=120)
    await streams_then_two_nodes_down(cluster, settings)
    runner = Runner(Echo(name="echo"), settings)
    with caplog.at_level(logging.WARNING, logger="ingenium.runtime"):
        task = asyncio.create_task(runner.run())
        try:
            await asyncio.sleep(12)  # longer than the 10 s after which it used to exit
            assert not task.done() and not runner.ready.is_set()
            assert any("does not answer for its streams yet" in r.message and "120s" in r.message
                       for r in caplog.records)
            cluster.restart("n1")
            cluster.restart("n2")
            async with asyncio.timeout(90):
                await runner.ready.wait()
        finally:
            runner.stop()
            await asyncio.wait_for(task, 30)


@pytest.mark.timeout(120)
async def test_past_its_wait_a_component_gives_up_in_one_line(cluster: NatsCluster, tmp_path: Path) -> None:
    settings = cluster_settings(cluster, tmp_path, wait=3)
    await streams_then_two_nodes_down(cluster, settings)
    with pytest.raises(ConnectionFailed, match=r"within 3s .*INGENIUM_STARTUP_WAIT_SECONDS") as raised:
        await Runner(Echo(name="echo"), settings).run()
    assert "\n" not in str(raised.value)
