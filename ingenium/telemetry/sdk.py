"""Where telemetry goes: the OpenTelemetry SDK, configured only from the standard ``OTEL_*`` variables.

A signal (traces, metrics, logs) is exported when an OTLP endpoint is set for it
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT``) or an exporter is
named (``OTEL_{TRACES,METRICS,LOGS}_EXPORTER=otlp|console|none``). With none of them set nothing leaves the
process; this deliberately differs from the SDK's default of a collector on localhost, so a laptop without one
stays quiet. ``OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL`` picks ``grpc`` or ``http/protobuf`` (the default, as
the specification says); headers, timeouts, compression and certificates are read by the SDK's exporters
from their usual variables, ``OTEL_SDK_DISABLED=true`` turns everything off.

A tracer provider is installed when traces or logs are exported (then spans get ids even if only logs go out, so
log records carry trace ids), not when nothing is: recording spans nobody reads took a fifth to a third of a live
component's CPU (issue #15). A component without one still passes on the trace context it receives. Spans and
logs wait for export in bounded queues (``ingenium.telemetry.export_queue``); what is dropped is counted and
exported as the ``ingenium.telemetry.dropped`` metric, so a missing collector costs telemetry, never trading.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import unquote

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from ingenium.errors import ConfigurationError
from ingenium.telemetry.counters import meter
from ingenium.telemetry.export_queue import LogQueueProcessor, QueueLimits, SpanQueueProcessor
from ingenium.telemetry.logs import OtelLogHandler
from ingenium.telemetry.tracing import note_tracer_provider

log = logging.getLogger("ingenium.telemetry.sdk")

Signal = Literal["traces", "metrics", "logs"]
Protocol = Literal["grpc", "http/protobuf"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")
_DEFAULT_ENDPOINTS: dict[Protocol, str] = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
_EXPORTERS = ("otlp", "console")

#: Seconds ``Telemetry.shutdown`` spends at most on each signal when the process exits.
SHUTDOWN_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class SignalExport:
    """Where one signal goes: exporters (empty: nowhere), OTLP protocol and the endpoint URL it posts to."""

    signal: Signal
    exporters: tuple[str, ...]
    protocol: Protocol
    endpoint: str

    @property
    def enabled(self) -> bool:
        """Whether anything is exported for this signal."""
        return bool(self.exporters)

    def describe(self) -> str:
        """One line: ``traces → OTLP http/protobuf http://collector:4318/v1/traces``."""
        if not self.exporters:
            return f"{self.signal} → not exported"
        where = [f"OTLP {self.protocol} {self.endpoint}" if e == "otlp" else "console (stdout)" for e in self.exporters]
        return f"{self.signal} → {', '.join(where)}"


def _signal_export(signal: Signal, env: Mapping[str, str]) -> SignalExport:
    upper = signal.upper()
    specific = env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", "").strip()
    generic = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    named = env.get(f"OTEL_{upper}_EXPORTER", "").strip().lower()
    if named:
        exporters = tuple(dict.fromkeys(n.strip() for n in named.split(",") if n.strip()))
        unknown = [n for n in exporters if n not in (*_EXPORTERS, "none")]
        if unknown:
            raise ConfigurationError(
                f"OTEL_{upper}_EXPORTER={named!r}: Ingenium supports otlp, console or none, not {unknown[0]!r}"
            )
        exporters = () if "none" in exporters else exporters
    else:
        exporters = ("otlp",) if specific or generic else ()
    variable = f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"
    raw = env.get(variable, "").strip() or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
    if not env.get(variable, "").strip():
        variable = "OTEL_EXPORTER_OTLP_PROTOCOL"
    protocol = raw or "http/protobuf"
    if protocol not in _DEFAULT_ENDPOINTS:
        raise ConfigurationError(f"{variable}={protocol!r} is not supported: use grpc or http/protobuf")
    proto: Protocol = protocol
    if specific:
        endpoint = specific
    else:
        base = generic or _DEFAULT_ENDPOINTS[proto]
        endpoint = f"{base.rstrip('/')}/v1/{signal}" if proto == "http/protobuf" else base
    return SignalExport(signal, exporters, proto, endpoint)


def _resource_attribute(env: Mapping[str, str], key: str) -> str | None:
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        name, sep, value = pair.partition("=")
        if sep and name.strip() == key and value.strip():
            return unquote(value.strip())
    return None


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """What the ``OTEL_*`` environment asks for, resolved and validated."""

    service_name: str
    disabled: bool
    traces: SignalExport
    metrics: SignalExport
    logs: SignalExport

    @classmethod
    def from_env(cls, service_name: str, environ: Mapping[str, str] | None = None) -> TelemetryConfig:
        """Read the configuration; raises ``ConfigurationError`` naming the variable that is wrong.

        Args:
            service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` set one.
            environ: The variables to read; ``os.environ`` by default.

        """
        env = os.environ if environ is None else environ
        name = env.get("OTEL_SERVICE_NAME", "").strip() or _resource_attribute(env, "service.name") or service_name
        disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
        exports = [_signal_export(s, env) for s in SIGNALS]
        return cls(name, disabled, *exports)

    def signal(self, signal: Signal) -> SignalExport:
        """Return the export settings of one signal."""
        return {"traces": self.traces, "metrics": self.metrics, "logs": self.logs}[signal]

    def describe(self) -> str:
        """Say in a few lines where each signal goes and how to change it (for ``ingenium up``)."""
        if self.disabled:
            return "telemetry: disabled (OTEL_SDK_DISABLED=true)"
        lines = [f"telemetry for service {self.service_name!r}:"]
        lines += [f"  {self.signal(s).describe()}" for s in SIGNALS]
        if not any(self.signal(s).enabled for s in SIGNALS):
            lines.append("  set OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318 to export (see docs/telemetry.md)")
        return "\n".join(lines)


def describe_telemetry(service_name: str = "ingenium", environ: Mapping[str, str] | None = None) -> str:
    """Where telemetry goes under the current ``OTEL_*`` environment, for ``ingenium up`` to print."""
    return TelemetryConfig.from_env(service_name, environ).describe()


def _span_exporter(export: SignalExport, kind: str) -> SpanExporter:
    if kind == "console":
        return ConsoleSpanExporter()
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(endpoint=export.endpoint)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=export.endpoint)


def _metric_exporter(export: SignalExport, kind: str) -> MetricExporter:
    if kind == "console":
        return ConsoleMetricExporter()
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(endpoint=export.endpoint)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(endpoint=export.endpoint)


def _log_exporter(export: SignalExport, kind: str) -> LogRecordExporter:
    if kind == "console":
        return ConsoleLogRecordExporter()
    if export.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

        return GrpcLogExporter(endpoint=export.endpoint)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

    return HttpLogExporter(endpoint=export.endpoint)


def build_resource(service_name: str) -> Resource:
    """``service.name`` plus what ``OTEL_RESOURCE_ATTRIBUTES`` adds, ``service.namespace`` and an instance id."""
    defaults = Resource({"service.namespace": "ingenium",
                         "service.instance.id": f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"})
    return defaults.merge(Resource.create({})).merge(Resource({"service.name": service_name}))


class Telemetry:
    """The OpenTelemetry providers of this process; ``shutdown`` before exit sends what is still queued.

    Args:
        config: What the environment asked for.
        tracer_provider: The installed tracer provider (``None`` while no span goes anywhere: telemetry disabled,
            or no trace exporter and no processor added).
        meter_provider: The installed meter provider (``None`` when metrics are not exported).
        logger_provider: The installed logger provider (``None`` when logs are not exported).

    """

    def __init__(
        self,
        config: TelemetryConfig,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
    ) -> None:
        self.config = config
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.logger_provider = logger_provider
        self.span_queues: list[SpanQueueProcessor] = []
        self.log_queues: list[LogQueueProcessor] = []
        self.log_handler: OtelLogHandler | None = None
        self._closed = False

    def add_span_processor(self, processor: SpanProcessor) -> None:
        """Send spans to one more processor too (e.g. an in-memory exporter in tests)."""
        if self.config.disabled:
            raise ConfigurationError("telemetry is disabled (OTEL_SDK_DISABLED=true); no span processor can be added")
        if self.tracer_provider is None:  # no exporter wanted spans until now
            self.tracer_provider = _tracer_provider(self.config)
        self.tracer_provider.add_span_processor(processor)

    def dropped(self) -> dict[tuple[Signal, str], int]:
        """Spans and log records lost so far, by (signal, reason): queue full, export failed, shutdown."""
        counts: dict[tuple[Signal, str], int] = {}
        for signal, queues in (("traces", self.span_queues), ("logs", self.log_queues)):
            for processor in queues:
                for reason, n in processor.queue.dropped.items():
                    key = (cast(Signal, signal), reason)
                    counts[key] = counts.get(key, 0) + n
        return counts

    def observe_dropped(self, _options: CallbackOptions) -> Iterable[Observation]:
        """Report drops to the ``ingenium.telemetry.dropped`` counter (its callback)."""
        return [Observation(n, {"signal": s, "reason": r}) for (s, r), n in self.dropped().items()]

    def flush(self, timeout: float = 5.0) -> bool:
        """Export what is queued now; whether every signal finished within ``timeout`` seconds each."""
        millis = int(timeout * 1000)
        done = True
        if self.tracer_provider is not None:
            done = self.tracer_provider.force_flush(millis) and done
        if self.meter_provider is not None:
            done = self.meter_provider.force_flush(millis) and done
        if self.logger_provider is not None:
            done = self.logger_provider.force_flush(millis) and done
        return done

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Flush and stop exporting, spending at most ``timeout`` seconds per signal; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        stops: list[Callable[[], object]] = []
        if self.meter_provider is not None:
            stops.append(functools.partial(self.meter_provider.shutdown, timeout_millis=timeout * 1000))
        if self.tracer_provider is not None:
            stops.append(self.tracer_provider.shutdown)
        if self.logger_provider is not None:
            stops.append(self.logger_provider.shutdown)
        # In parallel, so a dead collector costs one timeout at exit, not one per signal.
        threads = [threading.Thread(target=stop, name="ingenium-telemetry-shutdown", daemon=True) for stop in stops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout + 1)

    def describe(self) -> str:
        """Where this process sends its telemetry."""
        return self.config.describe()


_current: Telemetry | None = None
_lock = threading.Lock()


def current_telemetry() -> Telemetry | None:
    """Return the telemetry ``setup_telemetry`` installed in this process, if any."""
    return _current


def setup_telemetry(service_name: str, *, span_processors: Iterable[SpanProcessor] = ()) -> Telemetry:
    """Install OpenTelemetry providers for this process as the ``OTEL_*`` environment says; call once at start.

    OpenTelemetry's global providers can be set only once per process, so a second call returns the
    telemetry installed by the first (adding ``span_processors`` to it).

    Args:
        service_name: ``service.name`` of this process (e.g. ``ingenium-ledger``), unless ``OTEL_SERVICE_NAME``
            sets another.
        span_processors: Extra processors that receive every span (in-memory exporters in tests).

    Raises:
        ConfigurationError: An ``OTEL_*`` variable has a value Ingenium cannot use.

    """
    global _current
    with _lock:
        if _current is None:
            _current = _install(TelemetryConfig.from_env(service_name))
            atexit.register(_current.shutdown)
        elif service_name != _current.config.service_name:
            log.debug("telemetry already set up as %r; not reconfiguring for %r", _current.config.service_name,
                      service_name)
        for processor in span_processors:
            _current.add_span_processor(processor)
        return _current


def _tracer_provider(config: TelemetryConfig) -> TracerProvider:
    """Install the SDK's tracer provider for this process (once: OpenTelemetry keeps the first)."""
    provider = TracerProvider(resource=build_resource(config.service_name), shutdown_on_exit=False)
    trace.set_tracer_provider(provider)
    note_tracer_provider()
    return provider


def _install(config: TelemetryConfig) -> Telemetry:
    if config.disabled:
        return Telemetry(config)
    resource = build_resource(config.service_name)
    tel = Telemetry(config)
    if config.traces.exporters or config.logs.enabled:  # spans only where they, or their ids, go somewhere
        tel.tracer_provider = provider = _tracer_provider(config)
        for kind in config.traces.exporters:
            processor = SpanQueueProcessor(_span_exporter(config.traces, kind), QueueLimits.from_env("OTEL_BSP"),
                                           shutdown_timeout=SHUTDOWN_TIMEOUT)
            provider.add_span_processor(processor)
            tel.span_queues.append(processor)

    if config.metrics.enabled:
        readers = [PeriodicExportingMetricReader(_metric_exporter(config.metrics, k)) for k in config.metrics.exporters]
        tel.meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
        metrics.set_meter_provider(tel.meter_provider)
        meter.create_observable_counter(
            "ingenium.telemetry.dropped", callbacks=[tel.observe_dropped], unit="{item}",
            description="Spans and log records dropped before export (queue full, export failed, shutdown)",
        )

    if config.logs.enabled:
        tel.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        for kind in config.logs.exporters:
            log_processor = LogQueueProcessor(_log_exporter(config.logs, kind), QueueLimits.from_env("OTEL_BLRP"),
                                              shutdown_timeout=SHUTDOWN_TIMEOUT)
            tel.logger_provider.add_log_record_processor(log_processor)
            tel.log_queues.append(log_processor)
        set_logger_provider(tel.logger_provider)
        tel.log_handler = OtelLogHandler(tel.logger_provider)
        logging.getLogger().addHandler(tel.log_handler)
    return tel
