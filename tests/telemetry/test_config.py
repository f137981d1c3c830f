"""Which OTEL_* variables send which signal where; nothing is exported when none is set."""

from __future__ import annotations

import pytest

from ingenium.errors import ConfigurationError
from ingenium.telemetry.export_queue import QueueLimits
from ingenium.telemetry.sdk import SIGNALS, TelemetryConfig, describe_telemetry


def test_nothing_is_exported_without_otel_variables() -> None:
    config = TelemetryConfig.from_env("ingenium-ledger", {})
    assert not any(config.signal(s).enabled for s in SIGNALS)
    assert config.service_name == "ingenium-ledger"
    text = describe_telemetry("ingenium-ledger", {})
    assert "traces → not exported" in text and "OTEL_EXPORTER_OTLP_ENDPOINT" in text


def test_one_endpoint_sends_every_signal_over_http_with_signal_paths() -> None:
    config = TelemetryConfig.from_env("x", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    for signal in SIGNALS:
        export = config.signal(signal)
        assert export.exporters == ("otlp",)
        assert export.protocol == "http/protobuf"
        assert export.endpoint == f"http://collector:4318/v1/{signal}"
    assert "traces → OTLP http/protobuf http://collector:4318/v1/traces" in config.describe()


def test_grpc_uses_the_endpoint_as_given() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    config = TelemetryConfig.from_env("x", env)
    assert config.traces.protocol == "grpc" and config.traces.endpoint == "http://collector:4317"


def test_per_signal_endpoint_protocol_and_exporter() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4317",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://prom:9090/api/v1/otlp/v1/metrics",
        "OTEL_LOGS_EXPORTER": "console",
    }
    config = TelemetryConfig.from_env("x", env)
    assert (config.traces.protocol, config.traces.endpoint) == ("grpc", "http://tempo:4317")
    assert (config.metrics.protocol, config.metrics.endpoint) == (
        "http/protobuf", "http://prom:9090/api/v1/otlp/v1/metrics")
    assert config.logs.exporters == ("console",)
    assert "logs → console (stdout)" in config.describe()


def test_exporter_none_wins_over_an_endpoint() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_METRICS_EXPORTER": "none"}
    config = TelemetryConfig.from_env("x", env)
    assert config.traces.enabled and config.logs.enabled and not config.metrics.enabled


def test_exporter_otlp_without_endpoint_uses_the_local_default() -> None:
    config = TelemetryConfig.from_env("x", {"OTEL_TRACES_EXPORTER": "otlp"})
    assert config.traces.endpoint == "http://localhost:4318/v1/traces"
    assert not config.metrics.enabled


def test_service_name_from_environment_wins() -> None:
    assert TelemetryConfig.from_env("x", {"OTEL_SERVICE_NAME": "svc"}).service_name == "svc"
    attrs = {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=from%20attrs"}
    assert TelemetryConfig.from_env("x", attrs).service_name == "from attrs"


def test_sdk_disabled() -> None:
    config = TelemetryConfig.from_env("x", {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"})
    assert config.disabled
    assert config.describe() == "telemetry: disabled (OTEL_SDK_DISABLED=true)"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL='http/json' is not supported"),
        ({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "udp"}, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL='udp'"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER='zipkin'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(")):
        TelemetryConfig.from_env("x", env)


def test_queue_limits_from_env() -> None:
    limits = QueueLimits.from_env("OTEL_BSP", {"OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_SCHEDULE_DELAY": "250"})
    assert limits == QueueLimits(max_queue_size=100, max_batch_size=100, schedule_delay=0.25)
    assert QueueLimits.from_env("OTEL_BLRP", {}) == QueueLimits()
    with pytest.raises(ConfigurationError, match="OTEL_BSP_MAX_QUEUE_SIZE='lots' is not a number"):
        QueueLimits.from_env("OTEL_BSP", {"OTEL_BSP_MAX_QUEUE_SIZE": "lots"})
