"""Structured logs: JSON lines off a terminal, with the trace and span ids of the span they were written in."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.trace import format_span_id, format_trace_id

from ingenium import telemetry
from ingenium.errors import ConfigurationError
from ingenium.telemetry import Telemetry
from ingenium.telemetry.logs import RepeatFilter, TraceContextFilter, configure_logging

log = logging.getLogger("ingenium.test.logs")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_trace_and_span_ids(
    installed_telemetry: Telemetry, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO")  # stderr is captured, not a terminal: JSON
    log.info("before any span")
    with telemetry.tracer.start_as_current_span("handle") as span:
        log.warning("inside %s", "the span", extra={"symbol": "aapl", "quantity": 3})
        context = span.get_span_context()
    log.debug("below the level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    ours = [line for line in lines if line["logger"] == log.name]
    assert [line["message"] for line in ours] == ["before any span", "inside the span"]
    outside, inside = ours
    assert "trace_id" not in outside and "span_id" not in outside
    assert inside["trace_id"] == format_trace_id(context.trace_id)
    assert inside["span_id"] == format_span_id(context.span_id)
    assert inside["level"] == "WARNING" and inside["symbol"] == "aapl" and inside["quantity"] == 3
    assert inside["time"].endswith("+00:00")


def test_exceptions_are_one_json_line(installed_telemetry: Telemetry, restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", stream=out, json_lines=True)
    try:
        raise ValueError("bad fill")
    except ValueError:
        log.exception("projection failed")
    (line,) = [json.loads(x) for x in out.getvalue().splitlines() if '"projection failed"' in x]
    assert "ValueError: bad fill" in line["exception"]


def test_trace_ids_reach_caplog_records(installed_telemetry: Telemetry, caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(TraceContextFilter())
    with caplog.at_level(logging.INFO), telemetry.tracer.start_as_current_span("handle") as span:
        log.info("handled")
    (record,) = [r for r in caplog.records if r.name == log.name]
    assert record.trace_id == format_trace_id(span.get_span_context().trace_id)  # type: ignore[attr-defined]


def test_pretty_output_on_a_terminal_shows_the_trace(installed_telemetry: Telemetry, restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", stream=out, json_lines=False)
    with telemetry.tracer.start_as_current_span("handle") as span:
        log.info("sized order")
    text = out.getvalue()
    assert "sized order" in text and format_trace_id(span.get_span_context().trace_id) in text
    assert not text.lstrip().startswith("{")


def test_configure_again_replaces_its_handler(restore_logging: None) -> None:
    first = configure_logging("INFO", stream=io.StringIO())
    second = configure_logging("INFO", stream=io.StringIO())
    root = logging.getLogger()
    assert second in root.handlers and first not in root.handlers


def test_bad_level_is_one_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="log level 'loud' is not one of DEBUG, INFO"):
        configure_logging("loud")


def test_repeated_exporter_complaints_are_rate_limited() -> None:
    repeat = RepeatFilter(interval=3600)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, None, None)

    noisy = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    assert repeat.filter(record(noisy, "Transient error %s"))
    assert not repeat.filter(record(noisy, "Transient error %s"))
    assert repeat.filter(record(noisy, "Failed to export %s"))
    assert repeat.filter(record("ingenium.runtime", "same"))
    assert repeat.filter(record("ingenium.runtime", "same"))
