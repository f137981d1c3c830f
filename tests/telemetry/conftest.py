"""Telemetry fixtures: the process-wide tracer provider from ``setup_telemetry`` with an in-memory exporter.

OpenTelemetry's global providers can be installed once per process, so the suite installs them once (with no
``OTEL_*`` variables, so nothing leaves the machine) and each test switches span recording on for itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ingenium.telemetry import Telemetry, setup_telemetry


class RecordingSwitch(SpanProcessor):
    """Passes spans to an in-memory exporter only while a test records, so later tests do not pile them up."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._inner = SimpleSpanProcessor(self.exporter)
        self.recording = threading.Event()

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording.is_set():
            self._inner.on_end(span)


_switch = RecordingSwitch()


@pytest.fixture(scope="session")
def installed_telemetry() -> Telemetry:
    """The test process's telemetry, set up once from an environment without ``OTEL_*`` variables."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("OTEL_"):
                mp.delenv(name)
        return setup_telemetry("ingenium-tests", span_processors=[_switch])


@pytest.fixture
def spans(installed_telemetry: Telemetry) -> Iterator[InMemorySpanExporter]:
    """Spans finished during this test, in an in-memory exporter."""
    _switch.exporter.clear()
    _switch.recording.set()
    yield _switch.exporter
    _switch.recording.clear()
    _switch.exporter.clear()


@pytest.fixture
def otel_free_env() -> dict[str, str]:
    """This process's environment without any ``OTEL_*`` variable, for child processes to start from."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
