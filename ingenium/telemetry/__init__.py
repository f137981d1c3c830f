"""Telemetry: traces, metrics and logs, exported by OpenTelemetry when the ``OTEL_*`` variables say where.

Components need only ``from ingenium import telemetry``; every public name below is importable from here.

- ``tracing``: spans around publishes and handled messages, trace context in NATS headers.
- ``counters``: the ``ingenium`` meter and the per-message counts (``Tally``).
- ``gauges``: the state behind the observable gauges (consumer lag, projection lag, portfolio figures).
- ``logs``: structured logging with trace ids (``configure_logging``).
- ``sdk``: installing the OpenTelemetry SDK from ``OTEL_*`` variables (``setup_telemetry``).
- ``export_queue``: the bounded queues between finished spans or logs and an exporter.
"""

from ingenium.telemetry.counters import (
    Tally,
    dead_lettered,
    events_consumed,
    events_published,
    handler_duration,
    handler_errors,
    handler_retries,
    meter,
)
from ingenium.telemetry.gauges import (
    LAG_INTERVAL_SECONDS,
    ConsumerLag,
    PortfolioGauges,
    PortfolioSnapshot,
    ProjectionLag,
    consumer_lag,
    portfolio_gauges,
    projection_lag,
    watch_consumer_lag,
    watch_projection_lag,
)
from ingenium.telemetry.logs import configure_logging
from ingenium.telemetry.sdk import Telemetry, TelemetryConfig, current_telemetry, describe_telemetry, setup_telemetry
from ingenium.telemetry.tracing import (
    consume_span,
    event_attributes,
    extract,
    inject,
    publish_attributes,
    tracer,
    tracing_enabled,
)

__all__ = [
    "LAG_INTERVAL_SECONDS", "ConsumerLag", "PortfolioGauges", "PortfolioSnapshot", "ProjectionLag", "Tally",
    "Telemetry", "TelemetryConfig", "configure_logging", "consume_span", "consumer_lag", "current_telemetry",
    "dead_lettered", "describe_telemetry", "event_attributes", "events_consumed", "events_published", "extract",
    "handler_duration", "handler_errors", "handler_retries", "inject", "meter", "portfolio_gauges", "projection_lag",
    "publish_attributes", "setup_telemetry", "tracer", "tracing_enabled", "watch_consumer_lag",
    "watch_projection_lag",
]
