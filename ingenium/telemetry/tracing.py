"""Tracing: spans around publishes and handled messages, W3C trace context in NATS headers.

Only the OpenTelemetry *API* is used here, so everything is a cheap no-op until an SDK is installed
(``ingenium.telemetry.setup_telemetry`` installs one, with exporters configured from ``OTEL_*`` variables).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from nats.aio.msg import Msg
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from ingenium.events import DataEvent, Event, ExecutionEvent, OrderEvent, SignalEvent

tracer = trace.get_tracer("ingenium")


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


#: Whether ``setup_telemetry`` installed a tracer provider. Kept here because asking OpenTelemetry costs an
#: environment lookup per call while no provider is set, a twelfth of a strategy's CPU when asked per publish.
_provider_installed = False


def note_tracer_provider() -> None:
    """Record that a tracer provider was installed (``setup_telemetry`` calls it; OpenTelemetry keeps it for good)."""
    global _provider_installed
    _provider_installed = True


def tracing_enabled() -> bool:
    """Whether spans are recorded in this process (Ingenium's telemetry installed a tracer provider); cheap to call.

    A batch consumer can skip building per-message span attributes when this is ``False``.
    """
    return _provider_installed

