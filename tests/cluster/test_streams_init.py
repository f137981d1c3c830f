"""`ingenium streams init` on a cluster: the configured replicas and placement, or one line saying why not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from nats.aio.client import Client

from ingenium.config import Settings
from ingenium.connection import connect_nats
from ingenium.subjects import STREAM_KEYS
from tests.cluster.harness import NatsCluster
from tests.cluster.trading import cli

pytestmark = pytest.mark.cluster


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


async def stream_names(settings: Settings) -> list[str]:
    nc: Client = await connect_nats(settings, name="test")
    try:
        return [str(info.config.name) for info in await nc.jetstream().streams_info()]
    finally:
        await nc.drain()


async def test_replicas_on_a_single_server_are_refused_in_one_line(settings: Settings) -> None:
    result = cli(["streams", "init"], settings.model_copy(update={"stream_replicas": 3}))
    one_line_error(result, f"cannot give {settings.subjects.stream('data')} 3 replicas", "single server",
                   "INGENIUM_STREAM_REPLICAS=1")
    ours = {settings.subjects.stream(key) for key in STREAM_KEYS}  # a shared server holds other tests' streams
    assert ours.isdisjoint(await stream_names(settings))  # refused before creating anything


async def test_streams_get_the_replicas_and_placement_the_cluster_can_hold(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path / "cluster", tags=("sync:always",))
    cluster.start()
    try:
        settings = Settings(nats_url=cluster.urls, data_dir=tmp_path / "data", stream_replicas=3,
                            stream_tags="sync:always")

        one_line_error(cli(["streams", "init"], settings.model_copy(update={"stream_replicas": 5})),
                       "cannot give INGENIUM_DATA 5 replicas", "the NATS cluster has 3 servers up",
                       "INGENIUM_STREAM_REPLICAS=3")
        one_line_error(cli(["streams", "init"], settings.model_copy(update={"stream_tags": "ssd"})),
                       "cannot place INGENIUM_DATA with 3 replicas in tags ssd", "no suitable peers")
        assert await stream_names(settings) == []

        done = cli(["streams", "init"], settings)
        assert done.returncode == 0, done.stderr
        assert "created INGENIUM_ORDERS (3 replicas, tags sync:always)" in done.stdout
        nc = await connect_nats(settings, name="test")
        try:
            for key in STREAM_KEYS:
                info = await nc.jetstream().stream_info(settings.subjects.stream(key))
                assert info.config.num_replicas == 3
                assert info.config.placement is not None and info.config.placement.tags == ["sync:always"]
                assert info.cluster is not None and info.cluster.leader in cluster.nodes
                assert len(info.cluster.replicas or []) == 2
        finally:
            await nc.drain()
    finally:
        cluster.stop()
