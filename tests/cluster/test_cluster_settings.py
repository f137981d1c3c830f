"""The cluster settings: the sync interval reaches the embedded nats-server (and the harness's nodes fsync every
write); publish retries end inside the duplicate window; placement tags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingenium.config import Settings
from ingenium.stack import start_stack
from tests.cluster.harness import NatsCluster

pytestmark = pytest.mark.cluster


def test_the_embedded_server_loads_the_configured_sync_interval(tmp_path: Path) -> None:
    stack = start_stack(Settings(nats_url=None, data_dir=tmp_path, nats_sync_interval="always"), need_database=False)
    try:
        log = (tmp_path / "nats" / "nats-server.log").read_text()
        loaded = re.search(r"Using configuration file: (\S+)", log)
        assert loaded is not None, log
        assert "sync_interval: always" in Path(loaded.group(1)).read_text()
    finally:
        stack.stop()


def test_without_the_setting_the_server_keeps_its_default(tmp_path: Path) -> None:
    stack = start_stack(Settings(nats_url=None, data_dir=tmp_path), need_database=False)
    try:
        assert "Using configuration file" not in (tmp_path / "nats" / "nats-server.log").read_text()
    finally:
        stack.stop()


@pytest.mark.parametrize("value", ["sometimes", "2 minutes", "-1s"])
def test_a_sync_interval_that_is_not_always_or_a_duration_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="neither 'always' nor a duration"):
        Settings(nats_sync_interval=value)


def test_durations_are_accepted() -> None:
    assert [Settings(nats_sync_interval=v).nats_sync_interval for v in ("2m", "10s", "1m30s", "500ms", " always ")] \
        == ["2m", "10s", "1m30s", "500ms", "always"]


def test_the_harness_nodes_fsync_every_write(cluster: NatsCluster) -> None:
    for node in cluster.nodes.values():
        assert node.monitor("/varz")["jetstream"]["config"]["sync_always"] is True


def test_publish_retries_must_end_inside_the_duplicate_window() -> None:
    with pytest.raises(ValidationError, match="shorter than INGENIUM_DUPLICATE_WINDOW_SECONDS"):
        Settings(publish_retry_seconds=120, duplicate_window_seconds=120)
    assert Settings(publish_retry_seconds=60, duplicate_window_seconds=120).publish_retry_seconds == 60


def test_placement_tags_are_comma_separated() -> None:
    assert Settings(stream_tags=" sync:always, ssd ,").placement_tags == ["sync:always", "ssd"]
    assert Settings().placement_tags == []
