"""A process records spans only when traces or logs are exported: spans nobody reads cost a component CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = ("from ingenium.telemetry import setup_telemetry, tracing_enabled; "
          "setup_telemetry('ingenium-test'); print(tracing_enabled())")


@pytest.mark.parametrize(("exported", "records"), [
    ({}, False),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_LOGS_EXPORTER": "console"}, True),  # log records carry the ids of the spans they were written in
    ({"OTEL_METRICS_EXPORTER": "console"}, False),
])
def test_spans_are_recorded_only_where_they_or_their_ids_go(
    exported: dict[str, str], records: bool, otel_free_env: dict[str, str]
) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=otel_free_env | exported, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(records)
