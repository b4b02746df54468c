"""What every call carries with no code: the request id, the trace context (a client span per
attempt with the tracing plugin) and the time left."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_request_id_goes_to_the_service(client_app, downstream, kind):
    with client_app().test_client() as client:
        response = client.get(f"/{kind}/items", headers={"X-Request-ID": "order-42"})
    assert response.json()["body"]["headers"]["x-request-id"] == "order-42"
    assert downstream.seen[0].headers["x-request-id"] == "order-42"


@pytest.mark.parametrize("kind", KINDS)
def test_the_time_left_goes_to_the_service(client_app, downstream, kind):
    with client_app(timeout={"total": 5}).test_client() as client:
        client.get(f"/{kind}/items")
        client.get(f"/{kind}/items", headers={"Request-Timeout": "1500"})
    without_budget, with_budget = (int(s.headers["request-timeout"]) for s in downstream.seen)
    assert 4000 < without_budget <= 5000  # the service's total timeout
    assert 1000 < with_budget <= 1500  # what remained of the caller's 1.5 s


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_whose_time_ran_out_makes_no_call(client_app, downstream, kind):
    with client_app().test_client() as client:
        response = client.get(f"/{kind}/items", headers={"Request-Timeout": "0"})
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["service"] == "down"
    assert downstream.count() == 0


def test_an_invalid_budget_header_is_ignored(client_app, downstream):
    with client_app().test_client() as client:
        response = client.get("/sync/items", headers={"Request-Timeout": "soon"})
    assert response.json()["status"] == 200


def test_the_deadline_header_can_be_renamed_or_left_out(client_app, downstream):
    envoy = "x-envoy-expected-rq-timeout-ms"
    with client_app(client={"deadline_header": envoy}).test_client() as client:
        client.get("/sync/items", headers={envoy: "700"})
    with client_app(client={"deadline_header": ""}).test_client() as client:
        client.get("/sync/items", headers={"Request-Timeout": "0"})
    renamed, left_out = downstream.seen
    assert 0 < int(renamed.headers[envoy]) <= 700
    assert "request-timeout" not in renamed.headers
    assert envoy not in left_out.headers and "request-timeout" not in left_out.headers


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_carries_the_same_request_id(client_app, downstream, kind):
    downstream.fail(503)
    with client_app().test_client() as client:
        client.get(f"/{kind}/items", headers={"X-Request-ID": "again-1"})
    assert [s.headers["x-request-id"] for s in downstream.seen] == ["again-1", "again-1"]


@pytest.mark.parametrize("kind", KINDS)
def test_with_tracing_each_attempt_is_a_client_span_the_service_continues(
    client_app, downstream, kind
):
    import chassis_tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    downstream.fail(503)
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    app = client_app(plugins=(chassis_tracing,), app_options={"use_tracer": provider})
    with app.test_client() as client:
        response = client.get(f"/{kind}/items", headers={"traceparent": incoming})
    assert response.json()["status"] == 200
    clients = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert len(clients) == 2  # one per attempt
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C
    assert {span.context.trace_id for span in clients} == {trace_id}
    sent = [s.headers["traceparent"] for s in downstream.seen]
    assert [t.split("-")[2] for t in sent] == [f"{s.context.span_id:016x}" for s in clients]
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert all(span.parent.span_id == server.context.span_id for span in clients)
    provider.shutdown()


def test_application_code_can_narrow_the_time_left(client_app, downstream):
    import chassis_client

    app = client_app(timeout={"total": 10})
    with app.test_client():
        down = chassis_client.client("down", app=app)
        with chassis_client.deadline(0.5):
            assert 0 < chassis_client.remaining() <= 0.5
            down.get("/items")
            with chassis_client.deadline(5):  # an inner block never extends the budget
                down.get("/items")
        assert chassis_client.remaining() is None
        down.get("/items")
    first, inner, outside = (int(s.headers["request-timeout"]) for s in downstream.seen)
    assert 0 < first <= 500
    assert 0 < inner <= 500
    assert 9000 < outside <= 10000


def test_outside_a_request_no_request_id_is_invented(client_app, downstream):
    import chassis_client

    app = client_app()
    with app.test_client():
        chassis_client.client("down", app=app).get("/items")
    assert "x-request-id" not in downstream.seen[0].headers
