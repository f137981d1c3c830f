"""Bounded, never-blocking queues between the code that ends spans (or logs) and an OTLP exporter.

The SDK's batch processors are bounded too, but they do not say how much they dropped (only behind an
experimental flag) and their ``force_flush`` ignores its timeout, so a dead collector could hold up a
component's shutdown for the exporter's whole retry budget. These queues count every item lost, by reason,
and bound flush and shutdown by a deadline. Producers only ever append to a deque: a slow or missing
collector costs the trading path nothing but the dropped telemetry.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, detach, set_value
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ingenium.errors import ConfigurationError

log = logging.getLogger("ingenium.telemetry.export")

T = TypeVar("T")

#: Why an item never reached the collector.
DropReason = Literal["queue_full", "export_failed", "shutdown"]


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How much a queue holds and how it batches (the SDK's defaults)."""

    max_queue_size: int = 2048
    max_batch_size: int = 512
    schedule_delay: float = 5.0

    @classmethod
    def from_env(
        cls, prefix: Literal["OTEL_BSP", "OTEL_BLRP"], environ: Mapping[str, str] | None = None
    ) -> QueueLimits:
        """Limits from ``<prefix>_MAX_QUEUE_SIZE``, ``_MAX_EXPORT_BATCH_SIZE`` and ``_SCHEDULE_DELAY`` (ms)."""
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            raw = env.get(f"{prefix}_{name}", "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{prefix}_{name}={raw!r} is not a number") from None
            if value <= 0:
                raise ConfigurationError(f"{prefix}_{name}={raw!r} must be positive")
            return value

        default = cls()
        size = int(number("MAX_QUEUE_SIZE", default.max_queue_size))
        batch = int(number("MAX_EXPORT_BATCH_SIZE", default.max_batch_size))
        return cls(size, min(batch, size), number("SCHEDULE_DELAY", default.schedule_delay * 1000) / 1000)


class ExportQueue(Generic[T]):
    """Items waiting for export, sent in batches by one daemon thread; only that thread ever calls ``export``.

    Args:
        name: What the queue holds (``spans``, ``logs``); names the worker thread.
        export: Sends one batch; returns whether the collector accepted it.
        limits: Queue size, batch size and how often the worker wakes.

    """

    def __init__(self, name: str, export: Callable[[list[T]], bool], limits: QueueLimits) -> None:
        self.name = name
        self.limits = limits
        self.exported = 0
        self._export = export
        self._items: deque[T] = deque()
        self._dropped: Counter[DropReason] = Counter()
        self._in_flight = 0
        self._state = threading.Condition()
        self._wake = threading.Event()
        self._closed = False
        self._abandoned = False
        self._worker = threading.Thread(target=self._run, name=f"ingenium-export-{name}", daemon=True)
        self._worker.start()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dropped(self) -> dict[DropReason, int]:
        """Items lost so far, by reason."""
        with self._state:
            return dict(self._dropped)

    def put(self, item: T) -> None:
        """Queue one item; when the queue is full (or closed) it is dropped and counted, never waited for."""
        if self._closed:
            self._drop("shutdown", 1)
        elif len(self._items) >= self.limits.max_queue_size:
            self._drop("queue_full", 1)
        else:
            self._items.append(item)
            if len(self._items) >= self.limits.max_batch_size:
                self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until everything queued so far is exported; whether it was."""
        self._wake.set()
        with self._state:
            return self._state.wait_for(lambda: not self._items and not self._in_flight, timeout)

    def close(self, timeout: float) -> None:
        """Stop accepting items, let the worker export what is queued within ``timeout`` s; count the rest lost.

        A batch still with the exporter at the deadline (a collector that accepts connections but never
        answers) is counted as lost too; the worker thread is a daemon and ends with the exporter's timeout.
        """
        self._closed = True
        self.flush(timeout)
        with self._state:
            lost = len(self._items) + self._in_flight
            self._items.clear()
            self._in_flight = 0
            self._abandoned = True
            if lost:
                self._dropped["shutdown"] += lost
        self._wake.set()

    def _drop(self, reason: DropReason, count: int) -> None:
        with self._state:
            self._dropped[reason] += count

    def _run(self) -> None:
        while not self._abandoned:
            self._wake.wait(self.limits.schedule_delay)
            self._wake.clear()
            while True:
                with self._state:
                    if self._abandoned or not self._items:
                        self._state.notify_all()
                        break
                    size = min(self.limits.max_batch_size, len(self._items))
                    batch = [self._items.popleft() for _ in range(size)]
                    self._in_flight = size
                self._send(batch)

    def _send(self, batch: list[T]) -> None:
        # Whatever the exporter does (HTTP, gRPC) must not itself be traced, or export would feed itself.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            accepted = self._export(batch)
        except Exception:
            log.exception("exporting %d %s failed; they are dropped", len(batch), self.name)
            accepted = False
        finally:
            detach(token)
        with self._state:
            sent, self._in_flight = self._in_flight, 0
            # sent is 0 when close() gave up on this batch and counted it already.
            if accepted:
                self.exported += sent
            else:
                self._dropped["export_failed"] += sent
            self._state.notify_all()


class SpanQueueProcessor(SpanProcessor):
    """Hands ended, sampled spans to an ``ExportQueue`` in front of ``exporter``.

    Args:
        exporter: Where the spans go (an OTLP exporter, or an in-memory one in tests).
        limits: Queue limits, normally ``QueueLimits.from_env("OTEL_BSP")``.
        shutdown_timeout: How long ``shutdown`` may spend exporting what is still queued.

    """

    def __init__(self, exporter: SpanExporter, limits: QueueLimits, *, shutdown_timeout: float = 2.0) -> None:
        self.exporter = exporter
        self.queue: ExportQueue[ReadableSpan] = ExportQueue("spans", self._export, limits)
        self._shutdown_timeout = shutdown_timeout

    def _export(self, batch: Sequence[ReadableSpan]) -> bool:
        return self.exporter.export(batch) is SpanExportResult.SUCCESS

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a finished span unless it was not sampled."""
        context = span.context
        if context is not None and context.trace_flags.sampled:
            self.queue.put(span)

    def shutdown(self) -> None:
        """Export what is queued (bounded by the shutdown timeout), then shut the exporter down."""
        self.queue.close(self._shutdown_timeout)
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued; ``False`` if that took longer than ``timeout_millis``."""
        return self.queue.flush(timeout_millis / 1000)


class LogQueueProcessor(LogRecordProcessor):
    """Hands emitted log records to an ``ExportQueue`` in front of ``exporter`` (see ``SpanQueueProcessor``)."""

    def __init__(self, exporter: LogRecordExporter, limits: QueueLimits, *, shutdown_timeout: float = 2.0) -> None:
        self.exporter = exporter
        self.queue: ExportQueue[ReadableLogRecord] = ExportQueue("logs", self._export, limits)
        self._shutdown_timeout = shutdown_timeout

    def _export(self, batch: Sequence[ReadableLogRecord]) -> bool:
        return self.exporter.export(batch) is LogRecordExportResult.SUCCESS

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Queue a read-only copy of the record, detached from its (possibly large) context."""
        record = copy.copy(log_record.log_record)
        record.context = Context()
        self.queue.put(
            ReadableLogRecord(
                log_record=record,
                resource=log_record.resource if log_record.resource is not None else Resource.get_empty(),
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )

    def shutdown(self) -> None:
        """Export what is queued (bounded by the shutdown timeout), then shut the exporter down."""
        self.queue.close(self._shutdown_timeout)
        self.exporter.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued; ``False`` if that took longer than ``timeout_millis``."""
        return self.queue.flush(timeout_millis / 1000)
