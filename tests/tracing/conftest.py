"""Fixtures of the tracing plugin's tests: an app per test with its own in-memory exporter."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chassis
import chassis_tracing
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from otlp_support import OtlpCollector

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


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpCollector]:
    """The shared OTLP receiver (tests/otlp_support.py): ``url``, ``spans()``."""
    with OtlpCollector() as receiver:
        yield receiver


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
