"""A real OTLP/HTTP receiver for tests: traces, metrics and logs, decoded with
opentelemetry-proto as a collector would.

Use ``OtlpCollector()`` as a context manager (in a fixture), or import the
``otlp_collector`` fixture into a test package's conftest. Requests are recorded before the answer is sent, so
once an exporter's synchronous export (``force_flush``) has returned, what it sent is here:
tests need no waiting.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SIGNALS: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def attributes(pairs: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list to a dict of plain values."""
    result: dict[str, Any] = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        result[pair.key] = getattr(pair.value, kind) if kind else None
    return result


class OtlpCollector:
    """OTLP/HTTP (protobuf) on ``http://127.0.0.1:<port>``: ``/v1/traces``, ``/v1/metrics``,
    ``/v1/logs``. ``status`` makes it answer every export with that status instead (400: a
    refusal exporters do not retry)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.status = 200
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                kinds = SIGNALS.get(self.path)
                if kinds is None:
                    self._answer(404, b"")
                    return
                request_type, response_type = kinds
                message = request_type()
                message.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with collector._lock:
                    collector.received.append((self.path, headers, message))
                status = collector.status
                self._answer(status, response_type().SerializeToString() if status == 200 else b"")

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="otlp-collector", daemon=True
        )
        self._thread.start()

    def requests(self, path: str) -> list[tuple[dict[str, str], Any]]:
        with self._lock:
            return [(headers, message) for p, headers, message in self.received if p == path]

    # -- metrics ------------------------------------------------------------------------------

    def metrics(self) -> list[dict[str, Any]]:
        """Every metric received, in order: name, description, unit, kind (``sum``, ``gauge``,
        ``histogram``), the data (the protobuf message), resource and scope, headers."""
        found = []
        for headers, message in self.requests("/v1/metrics"):
            for resource_metrics in message.resource_metrics:
                resource = attributes(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        if kind is None:
                            continue
                        found.append(
                            {
                                "name": metric.name,
                                "description": metric.description,
                                "unit": metric.unit,
                                "kind": kind,
                                "data": getattr(metric, kind),
                                "resource": resource,
                                "scope": scope_metrics.scope.name,
                                "headers": headers,
                            }
                        )
        return found

    def last_metric(self, name: str) -> dict[str, Any]:
        """The latest export of the metric ``name`` (exports are cumulative)."""
        matching = [metric for metric in self.metrics() if metric["name"] == name]
        assert matching, f"{name} not received; got {sorted({m['name'] for m in self.metrics()})}"
        return matching[-1]

    # -- logs ---------------------------------------------------------------------------------

    def logs(self) -> list[dict[str, Any]]:
        """Every log record received: body, severity, ids (hex, '' when none), attributes,
        resource, scope."""
        found = []
        for headers, message in self.requests("/v1/logs"):
            for resource_logs in message.resource_logs:
                resource = attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        kind = record.body.WhichOneof("value")
                        found.append(
                            {
                                "body": getattr(record.body, kind) if kind else None,
                                "severity_text": record.severity_text,
                                "severity_number": record.severity_number,
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                                "attributes": attributes(record.attributes),
                                "resource": resource,
                                "scope": scope_logs.scope.name,
                                "headers": headers,
                            }
                        )
        return found

    # -- traces -------------------------------------------------------------------------------

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, flattened: name, ids (hex), kind, status, attributes, event
        names, resource, scope, and the headers of the export that carried it."""
        found = []
        for headers, message in self.requests("/v1/traces"):
            for resource_spans in message.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "status": span.status.code,
                                "attributes": attributes(span.attributes),
                                "events": [event.name for event in span.events],
                                "resource": resource,
                                "scope": scope_spans.scope.name,
                                "headers": headers,
                            }
                        )
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OtlpCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def otlp_collector() -> Iterator[OtlpCollector]:
    """A fresh OTLP/HTTP receiver for one test."""
    with OtlpCollector() as collector:
        yield collector
