"""Fixtures of the cluster tests: a real 3-node nats-server cluster per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.harness import NatsCluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """Three clustered nats-servers on loopback, fsyncing every write (``sync_interval: always``)."""
    nodes = NatsCluster(tmp_path / "cluster", sync_interval="always")
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()
