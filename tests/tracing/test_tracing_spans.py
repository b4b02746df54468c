"""The server span of each request: name, attributes, status, exceptions, children, exclusions."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _request(app: Any, method: str, path: str, **kwargs: Any) -> Any:
    with app.test_client() as client:
        return client.request(method, path, **kwargs)


def test_200_span_name_and_attributes(traced_app, spans):
    response = _request(
        traced_app(), "GET", "/api/items/7", headers={"User-Agent": "probe/1.0", "Host": "svc:8080"}
    )
    assert response.status_code == 200
    span = spans.server()
    assert span.name == "GET /api/items/{item_id}"
    assert span.kind is SpanKind.SERVER
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.path"] == "/api/items/7"
    assert span.attributes["url.scheme"] == "http"
    assert span.attributes["http.route"] == "/api/items/{item_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["server.address"] == "svc"
    assert span.attributes["server.port"] == 8080
    assert span.attributes["user_agent.original"] == "probe/1.0"
    assert "error.type" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope.name == "chassis_tracing"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "name", "route"),
    [
        # Connexion's request validation (parameter and body)
        ("GET", "/api/items/0", {}, 400, "GET /api/items/{item_id}", "/api/items/{item_id}"),
        ("POST", "/api/items", {"json": {"x": 1}}, 400, "POST /api/items", "/api/items"),
        # Connexion's security middleware
        ("GET", "/api/secure", {}, 401, "GET /api/secure", "/api/secure"),
        (
            "GET",
            "/api/secure",
            {"headers": {"X-API-Key": "bad"}},
            401,
            "GET /api/secure",
            "/api/secure",
        ),
        # a valid token without the required scope
        (
            "GET",
            "/api/admin",
            {"headers": {"Authorization": "Bearer reader"}},
            403,
            "GET /api/admin",
            "/api/admin",
        ),
        # no operation matched: the span is named by the method alone, never the raw path
        ("GET", "/api/nowhere/42", {}, 404, "GET", None),
        ("PUT", "/api/items/7", {}, 405, "PUT", None),
    ],
)
def test_client_errors_are_traced_without_error_status(
    traced_app, spans, method, path, kwargs, status, name, route
):
    response = _request(traced_app(), method, path, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    span = spans.server()
    assert span.name == name
    assert span.attributes["http.response.status_code"] == status
    assert span.attributes["url.path"] == path
    assert span.attributes.get("http.route") == route
    assert "error.type" not in span.attributes
    assert span.status.status_code is StatusCode.UNSET
    assert not [e for e in span.events if e.name == "exception"]


def test_500_records_the_exception_and_sets_error(traced_app, spans):
    response = _request(traced_app(), "GET", "/api/fail")
    assert response.status_code == 500
    assert "boom" not in response.text
    span = spans.server()
    assert span.name == "GET /api/fail"
    assert span.attributes["http.response.status_code"] == 500
    assert span.attributes["error.type"] == "RuntimeError"
    assert span.status.status_code is StatusCode.ERROR
    exceptions = [e for e in span.events if e.name == "exception"]
    assert len(exceptions) == 1, "recorded once, though the kernel also logs it"
    assert exceptions[0].attributes["exception.type"] == "RuntimeError"
    assert exceptions[0].attributes["exception.message"] == "boom"
    assert "tracing_views.py" in exceptions[0].attributes["exception.stacktrace"]


def test_unknown_method_is_other(traced_app, spans):
    response = _request(traced_app(), "PURGE", "/api/items/7")
    assert response.status_code == 405
    span = spans.server()
    assert span.name == "HTTP"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PURGE"


def test_incoming_traceparent_is_continued(traced_app, spans):
    headers = {
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        "tracestate": "vendor=abc",
        "baggage": "tenant=acme",
    }
    with traced_app().test_client() as client:
        outgoing = client.get("/api/outgoing", headers=headers).json()
    span = spans.server()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    # passed on to the next service: same trace, this span as parent, state and baggage kept
    assert outgoing["traceparent"] == f"00-{TRACE_ID}-{format(span.context.span_id, '016x')}-01"
    assert outgoing["tracestate"] == "vendor=abc"
    assert outgoing["baggage"] == "tenant=acme"
    assert outgoing["X-Request-ID"]


@pytest.mark.parametrize(
    "traceparent",
    [
        "garbage",
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # forbidden version
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",  # upper case
        "00-" + "x" * 1000,
    ],
)
def test_malformed_traceparent_starts_a_new_trace(traced_app, spans, traceparent):
    response = _request(traced_app(), "GET", "/api/items/7", headers={"traceparent": traceparent})
    assert response.status_code == 200
    span = spans.server()
    assert span.parent is None
    assert span.context.is_valid
    assert format(span.context.trace_id, "032x") != TRACE_ID


def test_child_span_opened_in_a_handler_nests(traced_app, spans):
    response = _request(traced_app(), "GET", "/api/child")
    assert response.status_code == 200
    server = spans.server()
    (child,) = [s for s in spans.all() if s.name == "load item"]
    assert child.parent is not None
    assert child.parent.span_id == server.context.span_id
    assert child.context.trace_id == server.context.trace_id
    assert child.attributes["item.count"] == 1
    # the view thread's log line lands on the span current there: the child
    assert [e.attributes["log.message"] for e in child.events] == ["inside the child span"]


def test_global_provider_is_used_and_global_tracer_children_nest(
    global_tracer_provider, traced_app, provider, spans
):
    trace.set_tracer_provider(provider)
    app = traced_app(use_tracer=None)
    response = _request(app, "GET", "/api/global-child")
    assert response.status_code == 200
    server = spans.server()
    (child,) = [s for s in spans.all() if s.name == "global child"]
    assert child.parent is not None and child.parent.span_id == server.context.span_id
    with app.test_client() as client:
        tracing = client.get("/readyz").json()["checks"]["tracing"]
    assert tracing == {"status": "up", "exporter": "application", "source": "global"}


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/startupz",
        "/health/liveness",
        "/info",
        "/metrics",
        "/static/app.js",
        "/skip",
    ],
)
def test_excluded_paths_make_no_span(traced_app, spans, path):
    app = traced_app({"tracing": {"exclude_paths": ["/static/*", "/skip"]}})
    with app.test_client() as client:
        client.get(path)
        client.get("/api/items/1")
    assert [s.name for s in spans.all()] == ["GET /api/items/{item_id}"]


def test_probes_traced_when_asked(traced_app, spans):
    app = traced_app({"tracing": {"exclude_probes": False}})
    with app.test_client() as client:
        assert client.get("/healthz").status_code == 200
    span = spans.server()
    assert span.name == "GET"
    assert span.attributes["url.path"] == "/healthz"


def test_default_metrics_path_is_excluded(traced_app, spans):
    # without the metrics plugin, /metrics is the default excluded metrics path
    with traced_app().test_client() as client:
        client.get("/metrics")
    assert spans.all() == []


def test_span_is_not_current_after_the_request(traced_app, spans):
    with traced_app().test_client() as client:
        client.get("/api/items/1")
    assert not trace.get_current_span().get_span_context().is_valid


def test_the_global_propagator_is_used(traced_app, spans):
    """Any propagator set globally (B3, Jaeger, a composite) extracts the caller's context."""
    from opentelemetry import propagate
    from opentelemetry.context import Context
    from opentelemetry.propagators.textmap import DefaultGetter, DefaultSetter, TextMapPropagator
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    GETTER, SETTER = DefaultGetter(), DefaultSetter()

    class HeaderPropagator(TextMapPropagator):
        """Reads and writes ``x-trace: <trace id>/<span id>``."""

        def extract(self, carrier, context=None, getter=GETTER):
            values = getter.get(carrier, "x-trace")
            if not values:
                return context if context is not None else Context()
            trace_id, span_id = values[0].split("/")
            parent = SpanContext(
                int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1)
            )
            return trace.set_span_in_context(NonRecordingSpan(parent), context)

        def inject(self, carrier, context=None, setter=SETTER):
            span_context = trace.get_current_span(context).get_span_context()
            setter.set(
                carrier, "x-trace", f"{span_context.trace_id:032x}/{span_context.span_id:016x}"
            )

        @property
        def fields(self):
            return {"x-trace"}

    saved = propagate.get_global_textmap()
    propagate.set_global_textmap(HeaderPropagator())
    try:
        with traced_app().test_client() as client:
            client.get("/api/items/1")  # no x-trace: a new trace
            outgoing = client.get("/api/outgoing", headers={"X-Trace": f"{TRACE_ID}/{PARENT_ID}"})
    finally:
        propagate.set_global_textmap(saved)
    first, second = spans.servers()
    assert first.parent is None
    assert format(second.context.trace_id, "032x") == TRACE_ID
    assert format(second.parent.span_id, "016x") == PARENT_ID
    assert outgoing.json()["x-trace"] == f"{TRACE_ID}/{second.context.span_id:016x}"
    assert "traceparent" not in outgoing.json()
