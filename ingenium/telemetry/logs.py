"""Structured logging: JSON lines off a terminal, rich output on one, trace and span ids on every record.

``configure_logging`` installs one handler on the root logger. Inside a span (a handled message, a publish)
each record carries ``trace_id`` and ``span_id``, so a log line leads to its trace and back. When logs are
exported over OTLP (``ingenium.telemetry.sdk``), ``OtelLogHandler`` forwards records to the OpenTelemetry
log pipeline as well.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import get_current
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.trace import format_span_id, format_trace_id
from rich.console import Console
from rich.logging import RichHandler

from ingenium.errors import ConfigurationError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: LogRecord attributes that are not user-supplied ``extra`` fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "trace_id",
                                                                          "span_id", "trace_flags"}
_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}


class TraceContextFilter(logging.Filter):
    """Sets ``trace_id``, ``span_id`` (hex, as W3C ``traceparent``) and ``trace_flags`` on records in a span."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format_trace_id(context.trace_id)
            record.span_id = format_span_id(context.span_id)
            record.trace_flags = int(context.trace_flags)
        return True


class RepeatFilter(logging.Filter):
    """Lets a repeated message from OpenTelemetry's own loggers through once per ``interval`` seconds.

    A missing collector makes exporters complain at every attempt; one line a minute says the same.
    """

    def __init__(self, interval: float = 60.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop an ``opentelemetry.*`` record seen less than ``interval`` seconds ago."""
        if not record.name.startswith("opentelemetry"):
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        self._last[key] = now
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, trace ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as one JSON line."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("trace_id", "span_id"):
            value = getattr(record, key, None)
            if value:
                out[key] = value
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class PrettyFormatter(logging.Formatter):
    """The message with a short ``trace=…`` suffix, for RichHandler (which adds time, level and colours)."""

    def format(self, record: logging.LogRecord) -> str:
        """Message plus trace and span id (full, to paste into a trace viewer) when in a span."""
        text = super().format(record)
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            text += f"  trace={trace_id} span={getattr(record, 'span_id', '')}"
        return text


def parse_level(level: str | int) -> int:
    """Turn a level name (any case) or number into a number; ``ConfigurationError`` names the choices."""
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name not in LEVELS:
        raise ConfigurationError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return logging.getLevelNamesMapping()[name]


_installed: list[logging.Handler] = []


def configure_logging(level: str | int = "INFO", *, stream: TextIO | None = None, json_lines: bool | None = None,
                      ) -> logging.Handler:
    """Route every log record to ``stream`` (stderr by default), as JSON lines unless it is a terminal.

    Calling it again replaces the handler installed before (other handlers on the root logger stay).

    Args:
        level: Root level, a name such as ``INFO`` or a number.
        stream: Where to write; ``sys.stderr`` at call time by default.
        json_lines: Force JSON (``True``) or pretty (``False``) output; by default JSON when not a TTY.

    Returns:
        The installed handler.

    """
    numeric = parse_level(level)
    target = stream if stream is not None else sys.stderr
    use_json = json_lines if json_lines is not None else not target.isatty()
    handler: logging.Handler
    if use_json:
        handler = logging.StreamHandler(target)
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(console=Console(file=target), show_path=False, rich_tracebacks=True,
                              log_time_format="[%X]")
        handler.setFormatter(PrettyFormatter("%(message)s"))
    handler.addFilter(TraceContextFilter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
    _installed[:] = [handler]
    root.addHandler(handler)
    root.setLevel(numeric)
    return handler


class OtelLogHandler(logging.Handler):
    """Forwards log records to an OpenTelemetry ``LoggerProvider`` (installed by ``setup_telemetry``).

    Records from OpenTelemetry's own loggers are not forwarded: an exporter complaining about a missing
    collector would otherwise queue more records for that same collector.
    """

    def __init__(self, provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.provider = provider

    def emit(self, record: logging.LogRecord) -> None:
        """Translate and emit one record with the current trace context."""
        if record.name.startswith("opentelemetry"):
            return
        try:
            attributes: dict[str, Any] = {
                "code.file.path": record.pathname,
                "code.function.name": record.funcName,
                "code.line.number": record.lineno,
                "logger.name": record.name,
            }
            for key, value in vars(record).items():
                if key not in _RESERVED and not key.startswith("_"):
                    attributes[key] = value if isinstance(value, str | int | float | bool) else str(value)
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                attributes["exception.stacktrace"] = logging.Formatter().formatException(record.exc_info)
            self.provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                context=get_current(),
                severity_number=_SEVERITY.get(record.levelno, SeverityNumber.UNSPECIFIED),
                severity_text="WARN" if record.levelname == "WARNING" else record.levelname,
                body=record.getMessage(),
                attributes=attributes,
            )
        except Exception:
            self.handleError(record)
