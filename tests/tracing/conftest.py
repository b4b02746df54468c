"""Fixtures of the tracing plugin's tests: an app per test with its own in-memory exporter."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import chassis
import chassis_tracing
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

SPEC = Path(__file__).parent / "tracing_api.yaml"


class Spans:
    """The spans one app exported, by name."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def servers(self) -> list[ReadableSpan]:
        return [s for s in self.all() if s.kind is trace.SpanKind.SERVER]

    def server(self) -> ReadableSpan:
        servers = self.servers()
        assert len(servers) == 1, [s.name for s in servers]
        return servers[0]

    def clear(self) -> None:
        self.exporter.clear()


@pytest.fixture
def spans() -> Spans:
    return Spans(InMemorySpanExporter())


@pytest.fixture
def provider(spans: Spans) -> Iterator[TracerProvider]:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(spans.exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def traced_app(
    make_chassis_app: Callable[..., chassis.App], provider: TracerProvider
) -> Iterator[Callable[..., chassis.App]]:
    """Builds the test API with the tracing plugin and the test's in-memory provider."""
    built: list[chassis.App] = []

    def build(settings: dict[str, Any] | None = None, **options: Any) -> chassis.App:
        # Loaded through its entry point, as in a service; use_tracer= hands it the provider.
        options.setdefault("use_tracer", provider)
        app = make_chassis_app(
            spec=SPEC, settings={"plugins": ["tracing"], **(settings or {})}, **options
        )
        built.append(app)
        return app

    yield build
    # Providers built from settings would otherwise export (to collectors the test has
    # stopped) at interpreter exit, after pytest closed its streams.
    for app in built:
        runtime = chassis_tracing.runtime(app)
        owned = runtime.provider if runtime is not None else None
        if owned is not None and owned is not provider and hasattr(owned, "shutdown"):
            owned.shutdown()


@pytest.fixture
def global_tracer_provider() -> Iterator[None]:
    """Lets a test install a global tracer provider and restores the previous one after."""
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    yield
    trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved


# -- a real OTLP/HTTP receiver ---------------------------------------------------------------


class OtlpReceiver:
    """An OTLP/HTTP traces endpoint on 127.0.0.1 that decodes what it receives with
    opentelemetry-proto (``ExportTraceServiceRequest``)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], ExportTraceServiceRequest]] = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message = ExportTraceServiceRequest()
                message.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, message))
                receiver.received.set()
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, flattened: name, ids, kind, attributes, resource, events."""
        found = []
        for headers, message in self.requests:
            for resource_spans in message.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
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
                                "attributes": _attributes(span.attributes),
                                "events": [e.name for e in span.events],
                                "resource": resource,
                                "scope": scope_spans.scope.name,
                                "headers": headers,
                            }
                        )
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _attributes(pairs: Any) -> dict[str, Any]:
    result = {}
    for pair in pairs:
        value = pair.value
        result[pair.key] = (
            getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
        )
    return result


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def refusing_collector() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_collector() -> Iterator[str]:
    """The URL of a collector that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
