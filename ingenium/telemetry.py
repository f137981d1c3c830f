"""OpenTelemetry glue: spans around publishes and handled messages, W3C trace context in NATS headers, metrics.

Only the OpenTelemetry *API* is used here, so everything is a cheap no-op until an SDK is installed
(``ingenium.observability.setup_telemetry`` installs one, with exporters configured from ``OTEL_*`` variables).

Besides the counters the runtime and bus record, the state behind the observable gauges (consumer lag,
ledger projection lag, portfolio figures) lives in ``ingenium.gauges`` and is re-exported here, so components
need only ``from ingenium import telemetry``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

from nats.aio.msg import Msg
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from ingenium.events import DataEvent, Event, ExecutionEvent, OrderEvent, SignalEvent
from ingenium.gauges import (
    LAG_INTERVAL_SECONDS,
    ConsumerLag,
    PortfolioGauges,
    PortfolioSnapshot,
    ProjectionLag,
    Tally,
    consumer_lag,
    portfolio_gauges,
    projection_lag,
    watch_consumer_lag,
    watch_projection_lag,
)

log = logging.getLogger("ingenium.telemetry")

tracer = trace.get_tracer("ingenium")
meter = metrics.get_meter("ingenium")

events_published = Tally(
    "ingenium.events.published", unit="{event}", description="Events published, by subject"
)
events_consumed = Tally(
    "ingenium.events.consumed", unit="{event}", description="Messages handled, by subject and outcome"
)
handler_duration = meter.create_histogram(
    "ingenium.handler.duration", unit="s", description="Time a component's handler took per message"
)
handler_errors = Tally(
    "ingenium.handler.errors", unit="{error}", description="Handler calls that raised, by component and stream"
)
handler_retries = Tally(
    "ingenium.handler.retries", unit="{message}", description="Messages negatively acked for a retry"
)
dead_lettered = Tally(
    "ingenium.events.dead_lettered", unit="{message}", description="Messages sent to the dead-letter stream"
)


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (``traceparent``) to outgoing headers."""
    propagate.inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> Context:
    """Return the trace context carried by incoming headers (empty when there is none)."""
    return propagate.extract(dict(headers) if headers else {})


# ----------------------------------------------------------------------------- span attributes
def event_attributes(event: Event) -> dict[str, str]:
    """Ingenium's span attributes for an event: symbol, order id, strategy id where the event has them."""
    attrs = {"ingenium.event.kind": event.kind}
    if isinstance(event, DataEvent | SignalEvent | OrderEvent | ExecutionEvent):
        attrs["ingenium.symbol"] = event.symbol
    if isinstance(event, OrderEvent):
        attrs["ingenium.order_id"] = event.id
    elif isinstance(event, ExecutionEvent):
        attrs["ingenium.order_id"] = event.order_id
        attrs["ingenium.exec_id"] = event.fill_id
    if isinstance(event, SignalEvent | OrderEvent) and event.strategy_id:
        attrs["ingenium.strategy_id"] = event.strategy_id
    return attrs


def publish_attributes(subject: str, event: Event) -> dict[str, str]:
    """Attributes of a producer span, after OpenTelemetry's messaging conventions plus ``event_attributes``."""
    return {
        "messaging.system": "nats",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": subject,
        "messaging.message.id": event.id,
        **event_attributes(event),
    }


def _consumer_attributes(
    subject: str, headers: Mapping[str, str] | None, size: int, *, consumer: str, stream: str, sequence: int,
    operation: str, component: str,
) -> dict[str, str | int]:
    return {
        "messaging.system": "nats",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": subject,
        "messaging.consumer.group.name": consumer,
        "messaging.message.id": (headers or {}).get("Nats-Msg-Id", ""),
        "messaging.message.body.size": size,
        "ingenium.stream": stream,
        "ingenium.stream.sequence": sequence,
        "ingenium.component": component,
    }


@contextlib.contextmanager
def consume_span(msg: Msg, consumer: str, operation: str = "process", *, component: str | None = None
                 ) -> Iterator[Span]:
    """Open a consumer span for one JetStream message, as a child of the trace its headers carry.

    The runtime opens one per handled message. Call ``span.set_attributes(event_attributes(event))`` once the
    payload is parsed.
    """
    if not tracing_enabled():
        # No SDK: no span to record, but an incoming trace context still flows to what the handler publishes.
        headers = msg.headers
        if headers and "traceparent" in headers:
            token = otel_context.attach(extract(headers))
            try:
                yield trace.INVALID_SPAN
            finally:
                otel_context.detach(token)
        else:
            yield trace.INVALID_SPAN
        return
    meta = msg.metadata
    attrs = _consumer_attributes(msg.subject, msg.headers, len(msg.data), consumer=consumer, stream=meta.stream,
                                 sequence=meta.sequence.stream, operation=operation, component=component or consumer)
    with tracer.start_as_current_span(
        f"{operation} {msg.subject}", context=extract(msg.headers), kind=SpanKind.CONSUMER, attributes=attrs
    ) as span:
        yield span


def tracing_enabled() -> bool:
    """Whether spans are recorded in this process (an SDK tracer provider is installed); cheap to call.

    A batch consumer can skip building per-message span attributes when this is ``False``.
    """
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


__all__ = [
    "LAG_INTERVAL_SECONDS", "ConsumerLag", "PortfolioGauges", "PortfolioSnapshot", "ProjectionLag", "Tally",
    "consume_span", "consumer_lag", "dead_lettered", "event_attributes", "events_consumed", "events_published",
    "extract", "handler_duration", "handler_errors", "handler_retries", "inject", "meter", "portfolio_gauges",
    "projection_lag", "publish_attributes", "tracer", "tracing_enabled", "watch_consumer_lag", "watch_projection_lag",
]
