"""The ledger's telemetry: a span per projected message, and the projection-lag gauge.

A span per message puts the ledger write at the end of a bar's trace; the lag gauge is ``ingenium.telemetry``'s.
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind

from ingenium import telemetry
from ledger.batch import BatchResult

COMPONENT = "ledger"


def trace_batch(result: BatchResult, started_ns: int, committed_ns: int) -> None:
    """Record one consumer span per message of a committed batch, each in the trace its headers carry.

    Spans are created only when a tracer provider records them, so the projector pays nothing otherwise.
    """
    if not result.parsed:
        return
    if not telemetry.tracing_enabled():
        return
    for item in result.parsed:
        message = item.message
        attributes: dict[str, str | int | bool] = {
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.operation.name": "project",
            "messaging.destination.name": message.subject,
            "messaging.consumer.group.name": COMPONENT,
            "messaging.message.id": message.msg_id or "",
            "messaging.message.body.size": len(message.data),
            "ingenium.stream": message.stream,
            "ingenium.stream.sequence": message.sequence,
            "ingenium.component": COMPONENT,
        }
        if item.event is not None:
            attributes.update(telemetry.event_attributes(item.event))
        if item.error is not None:
            attributes["ingenium.ledger.error"] = item.error
        span = telemetry.tracer.start_span(
            f"project {message.subject}", context=telemetry.extract(message.headers), kind=SpanKind.CONSUMER,
            attributes=attributes, start_time=started_ns,
        )
        span.end(end_time=committed_ns)


def checkpointed(result: BatchResult, stream: str, stream_last: int | None) -> None:
    """Feed the projection-lag gauge after a commit."""
    telemetry.projection_lag.checkpointed(stream, result.last_sequence, last_sequence=stream_last)
