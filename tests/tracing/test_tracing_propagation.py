"""Trace context passed on to the next service, with requests and httpx, over real sockets."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import chassis_tracing
import httpx
import pytest
from opentelemetry import baggage, context, trace


@pytest.fixture
def echo_server() -> Iterator[str]:
    """The next service: answers with the headers it received."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("client", ["requests", "httpx"])
def test_next_service_continues_the_trace(traced_app, spans, echo_server, client):
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with traced_app().test_client() as test_client:
        response = test_client.get(
            "/api/relay",
            params={"url": echo_server, "client": client},
            headers={"traceparent": incoming, "baggage": "tenant=acme", "X-Request-ID": "req-1"},
        )
    assert response.status_code == 200
    received = response.json()
    span = spans.server()
    version, trace_id, parent_id, flags = received["traceparent"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1, "sampled"
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert parent_id == format(span.context.span_id, "016x")
    assert received["baggage"] == "tenant=acme"
    assert received["x-request-id"] == "req-1"


def test_unsampled_requests_pass_the_decision_on(traced_app, echo_server):
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    with traced_app().test_client() as test_client:
        received = test_client.get(
            "/api/relay",
            params={"url": echo_server, "client": "httpx"},
            headers={"traceparent": incoming},
        ).json()
    assert received["traceparent"].startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert received["traceparent"].endswith("-00")


def test_inject_headers_outside_a_request(provider):
    tracer = provider.get_tracer("job")
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with tracer.start_as_current_span("nightly job") as span:
            headers = chassis_tracing.inject_headers({"Accept": "text/csv"})
    finally:
        context.detach(token)
    span_context = span.get_span_context()
    assert headers["Accept"] == "text/csv"
    assert headers["traceparent"].startswith(
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
    )
    assert headers["baggage"] == "tenant=acme"


def test_httpx_hooks_keep_headers_already_set(provider):
    tracer = provider.get_tracer("job")
    with tracer.start_as_current_span("job"):
        request = httpx.Request("GET", "http://example.test/", headers={"traceparent": "mine"})
        chassis_tracing.httpx_request_hook(request)
        assert request.headers["traceparent"] == "mine"
        request = httpx.Request("GET", "http://example.test/")
        asyncio.run(chassis_tracing.httpx_async_request_hook(request))
        assert request.headers["traceparent"].startswith("00-")


def test_no_span_no_headers():
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert chassis_tracing.inject_headers() == {}
