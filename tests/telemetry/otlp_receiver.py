"""An OTLP collector stand-in inside the test process: decodes and keeps every export request it receives.

HTTP (``/v1/traces``, ``/v1/metrics``, ``/v1/logs``, protobuf bodies) and gRPC, both on 127.0.0.1 only.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_KINDS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


def value(v: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue``."""
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def attributes(kvs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    """OTLP attributes as a dict."""
    return {kv.key: value(kv.value) for kv in kvs}


class OtlpReceiver:
    """Keeps every decoded ``Export*ServiceRequest``; ``http_endpoint``/``grpc_endpoint`` once started."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {path: [] for path in _KINDS}
        self.lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None

    def _keep(self, path: str, request: Message) -> None:
        with self.lock:
            self.requests[path].append(request)

    # ------------------------------------------------------------------ servers
    def start_http(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                kinds = _KINDS.get(self.path)
                if kinds is None:
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request = kinds[0]()
                request.ParseFromString(body)
                receiver._keep(self.path, request)
                reply = kinds[1]().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads what was received, not an access log."""

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start_grpc(self) -> str:
        receiver = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._keep("/v1/traces", request)
                return trace_service_pb2.ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._keep("/v1/metrics", request)
                return metrics_service_pb2.ExportMetricsServiceResponse()

        class Logs(logs_service_pb2_grpc.LogsServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                receiver._keep("/v1/logs", request)
                return logs_service_pb2.ExportLogsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc = server
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()

    # ------------------------------------------------------------------ what arrived
    def spans(self) -> list[tuple[dict[str, Any], Span]]:
        """Every span received, with its resource's attributes."""
        with self.lock:
            requests = list(self.requests["/v1/traces"])
        return [(attributes(rs.resource.attributes), span)
                for req in requests for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def metrics(self) -> dict[str, Metric]:
        """The last data received for each metric name."""
        with self.lock:
            requests = list(self.requests["/v1/metrics"])
        return {m.name: m for req in requests for rm in req.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics}

    def logs(self) -> list[LogRecord]:
        """Every log record received."""
        with self.lock:
            requests = list(self.requests["/v1/logs"])
        return [rec for req in requests for rl in req.resource_logs for sl in rl.scope_logs for rec in sl.log_records]
