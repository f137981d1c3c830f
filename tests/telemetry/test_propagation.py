"""Trace context crosses JetStream: a consumer's span is the child of the producer's, hop after hop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ingenium import telemetry
from ingenium.bus import JetStreamBus
from ingenium.config import Settings
from ingenium.events import DataEvent, OrderEvent, Side, SignalEvent
from ingenium.portfolio import Portfolio
from ingenium.runtime import Runner
from ingenium.strategy import Strategy
from ingenium.telemetry import Telemetry
from ingenium.testing import bar, eventually, signal


class AlwaysLong(Strategy):
    def on_data(self, event: DataEvent) -> SignalEvent:
        return self.long(event.symbol, event.bar.close)


class OneLot(Portfolio):
    def on_signal(self, event: SignalEvent) -> OrderEvent:
        return self.order(event.symbol, Side.BUY, Decimal(1), signal=event)


class Exploding(Portfolio):
    def on_signal(self, event: SignalEvent) -> None:
        raise RuntimeError("boom")


def finished(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


def parent_of(span: ReadableSpan, candidates: Sequence[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, f"{span.name} has no parent"
    matches = [c for c in candidates if c.context is not None and c.context.span_id == span.parent.span_id]
    assert len(matches) == 1, f"parent of {span.name} not among {[c.name for c in candidates]}"
    return matches[0]


async def test_consumer_span_is_child_of_producer_span(
    bus: JetStreamBus, settings: Settings, spans: InMemorySpanExporter
) -> None:
    subjects = settings.subjects
    runners = [Runner(AlwaysLong(name="strat"), settings), Runner(OneLot(name="book"), settings)]
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        await asyncio.gather(*(r.ready.wait() for r in runners))
        data = bar("msft", "101.5")
        await bus.publish(data)
        await eventually(lambda: finished(spans, f"process {subjects.signal}"))
    finally:
        for r in runners:
            r.stop()
        await asyncio.gather(*tasks)

    (publish_bar,) = finished(spans, f"publish {subjects.data('msft')}")
    (process_bar,) = finished(spans, f"process {subjects.data('msft')}")
    (publish_signal,) = finished(spans, f"publish {subjects.signal}")
    (process_signal,) = finished(spans, f"process {subjects.signal}")
    (publish_order,) = finished(spans, f"publish {subjects.order}")
    chain = [publish_bar, process_bar, publish_signal, process_signal, publish_order]

    assert publish_bar.parent is None
    for child, parent in zip(chain[1:], chain, strict=False):
        assert parent_of(child, chain) is parent
    assert len({s.context.trace_id for s in chain if s.context is not None}) == 1

    assert publish_bar.kind is SpanKind.PRODUCER and process_bar.kind is SpanKind.CONSUMER
    assert publish_bar.attributes is not None and process_bar.attributes is not None
    assert publish_bar.attributes["messaging.system"] == "nats"
    assert publish_bar.attributes["messaging.destination.name"] == subjects.data("msft")
    assert publish_bar.attributes["messaging.message.id"] == data.id
    assert process_bar.attributes["messaging.message.id"] == data.id
    assert process_bar.attributes["messaging.consumer.group.name"] == "strat-data"
    assert process_bar.attributes["ingenium.symbol"] == "msft"
    assert process_signal.attributes is not None and publish_order.attributes is not None
    assert process_signal.attributes["ingenium.strategy_id"] == "strat"
    assert publish_order.attributes["ingenium.strategy_id"] == "strat"
    assert publish_order.attributes["ingenium.order_id"] == publish_order.attributes["messaging.message.id"]


async def test_failing_handler_span_records_the_error(
    bus: JetStreamBus, settings: Settings, spans: InMemorySpanExporter
) -> None:
    runner = Runner(Exploding(name="boom"), settings)
    task = asyncio.create_task(runner.run())
    try:
        await runner.ready.wait()
        await bus.publish(signal("aapl"))
        await eventually(lambda: finished(spans, f"process {settings.subjects.signal}"))
    finally:
        runner.stop()
        await task
    failed = finished(spans, f"process {settings.subjects.signal}")[0]
    assert failed.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in failed.events)


def test_tracing_is_enabled_once_telemetry_is_set_up(installed_telemetry: Telemetry) -> None:
    assert telemetry.tracing_enabled()
    assert installed_telemetry.tracer_provider is not None
