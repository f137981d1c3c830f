"""What a real Ingenium process sends over OTLP, decoded by a receiver in the test process; a dead collector."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingenium.config import Settings
from ingenium.testing import settings_env
from tests.telemetry.otlp_receiver import OtlpReceiver, attributes

EMITTER = Path(__file__).with_name("emitter.py")


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


def run_emitter(settings: Settings, otel: dict[str, str], count: int) -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in settings_env(settings).items() if not k.startswith("OTEL_")}
    env.update(otel)
    proc = subprocess.run([sys.executable, str(EMITTER), str(count)], env=env, capture_output=True, timeout=120,
                          check=False)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    return json.loads(proc.stdout.decode().strip().splitlines()[-1]), stderr


def check_received(receiver: OtlpReceiver, result: dict[str, Any], settings: Settings, count: int) -> None:
    spans = receiver.spans()
    (emit,) = [s for _, s in spans if s.name == "emit"]
    publishes = [s for _, s in spans if s.name == f"publish {settings.subjects.data('aapl')}"]
    assert len(publishes) == count
    assert emit.trace_id.hex() == result["trace_id"]
    for span in publishes:
        assert span.trace_id == emit.trace_id and span.parent_span_id == emit.span_id
        attrs = attributes(span.attributes)
        assert attrs["messaging.system"] == "nats"
        assert attrs["messaging.destination.name"] == settings.subjects.data("aapl")
        assert attrs["ingenium.symbol"] == "aapl"
        assert attrs["messaging.message.id"]
    resource = spans[0][0]
    assert resource["service.name"] == "emitter" and resource["service.namespace"] == "ingenium"

    metrics = receiver.metrics()
    published = metrics["ingenium.events.published"].sum.data_points
    assert sum(p.as_int for p in published) == count
    assert attributes(published[0].attributes)["messaging.destination.name"] == settings.subjects.data("aapl")
    (equity,) = metrics["ingenium.portfolio.equity"].gauge.data_points
    assert equity.as_double == 1000 + 10 * 101.5
    (exposure,) = metrics["ingenium.portfolio.exposure"].gauge.data_points
    assert attributes(exposure.attributes) == {"ingenium.component": "book", "ingenium.symbol": "aapl"}

    (record,) = [r for r in receiver.logs() if r.body.string_value == f"emitting {count} bars"]
    assert record.trace_id.hex() == result["trace_id"] and record.span_id == emit.span_id
    assert attributes(record.attributes)["bars"] == count
    assert result["dropped"] == {}


def test_otlp_http_receiver_decodes_traces_metrics_and_logs(settings: Settings, receiver: OtlpReceiver) -> None:
    endpoint = receiver.start_http()
    result, _ = run_emitter(settings, {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}, count=3)
    assert result["published"] == 3
    check_received(receiver, result, settings, 3)


def test_otlp_grpc_receiver_decodes_traces_metrics_and_logs(settings: Settings, receiver: OtlpReceiver) -> None:
    endpoint = receiver.start_grpc()
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    result, _ = run_emitter(settings, otel, count=2)
    check_received(receiver, result, settings, 2)


def test_only_the_signal_given_an_endpoint_is_exported(settings: Settings, receiver: OtlpReceiver) -> None:
    endpoint = receiver.start_http()
    result, _ = run_emitter(settings, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces"}, count=1)
    assert {s.name for _, s in receiver.spans()} == {"emit", f"publish {settings.subjects.data('aapl')}"}
    assert receiver.metrics() == {} and receiver.logs() == []
    assert result["dropped"] == {}


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_collector() -> Iterator[int]:
    """Accepts connections into its backlog and never answers: the worst kind of missing collector."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["refused", "silent"])
def test_unreachable_collector_neither_raises_nor_blocks_publishes(
    settings: Settings, closed_port: int, silent_collector: int, kind: str
) -> None:
    port = closed_port if kind == "refused" else silent_collector
    count = 300
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        # A small queue, so that dropping (not just export failure) happens in a short run.
        "OTEL_BSP_MAX_QUEUE_SIZE": "64",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16",
        "OTEL_BSP_SCHEDULE_DELAY": "20",
    }
    result, _ = run_emitter(settings, otel, count)
    assert result["published"] == count
    traces = {reason: n for key, n in result["dropped"].items() for signal, reason in [key.split("/")]
              if signal == "traces"}
    # Every span (the emit span and one per publish) is accounted for as dropped, none silently lost.
    assert sum(traces.values()) == count + 1
    assert traces.get("queue_full", 0) > 0
