"""OTLP/HTTP export end to end against a real receiver; collector faults; forked workers."""

from __future__ import annotations

import logging
import os
import time

import chassis_tracing
import pytest

SPAN_KIND_SERVER = 2  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_SERVER
STATUS_CODE_ERROR = 2


def _otlp_app(traced_app, endpoint, **tracing):
    settings = {
        "service_name": "directmail",
        "service_version": "2.0.0",
        "tracing": {"exporter": "otlp", "endpoint": endpoint, **tracing},
    }
    return traced_app(settings, use_tracer=None)


def test_spans_reach_a_real_otlp_receiver(global_tracer_provider, traced_app, otlp_receiver):
    app = _otlp_app(
        traced_app, otlp_receiver.url, headers="authorization=Bearer%20t0ken,x-tenant=acme"
    )
    with app.test_client() as client:
        assert client.get("/api/items/4", headers={"User-Agent": "probe"}).status_code == 200
        assert client.get("/api/fail").status_code == 500
        assert client.get("/api/nowhere").status_code == 404
    # leaving the client ran the lifespan shutdown, which flushed the batch
    received = {span["name"]: span for span in otlp_receiver.spans()}
    assert set(received) == {"GET /api/items/{item_id}", "GET /api/fail", "GET"}

    item = received["GET /api/items/{item_id}"]
    assert item["kind"] == SPAN_KIND_SERVER
    assert item["scope"] == "chassis_tracing"
    assert item["resource"]["service.name"] == "directmail"
    assert item["resource"]["service.version"] == "2.0.0"
    assert item["attributes"]["http.route"] == "/api/items/{item_id}"
    assert item["attributes"]["http.response.status_code"] == 200
    assert item["attributes"]["user_agent.original"] == "probe"
    assert item["events"] == ["log"]
    assert item["headers"]["authorization"] == "Bearer t0ken"
    assert item["headers"]["x-tenant"] == "acme"
    assert item["headers"]["content-type"] == "application/x-protobuf"

    failed = received["GET /api/fail"]
    assert failed["status"] == STATUS_CODE_ERROR
    assert failed["attributes"]["error.type"] == "RuntimeError"
    assert "exception" in failed["events"]

    tracing = chassis_tracing.runtime(app).health()
    assert tracing["exporter"] == "otlp"
    assert tracing["endpoint"] == f"{otlp_receiver.url}/v1/traces"
    assert tracing["spans_exported"] == 3
    assert tracing["spans_dropped"] == 0
    assert tracing["dropping"] is False


def _time_requests(app, count: int = 40) -> float:
    with app.test_client() as client:
        client.get("/api/items/1")  # warm up
        started = time.perf_counter()
        for number in range(count):
            assert client.get(f"/api/items/{number + 1}").status_code == 200
        elapsed = time.perf_counter() - started
        app.extras["health"] = client.get("/readyz").json()
    return elapsed


@pytest.mark.parametrize("collector", ["refusing_collector", "silent_collector"])
def test_unreachable_collector_does_not_fail_or_slow_requests(
    global_tracer_provider, traced_app, caplog, request, collector
):
    endpoint = request.getfixturevalue(collector)
    baseline_app = traced_app({"tracing": {"exporter": "none"}}, use_tracer=None)
    app = _otlp_app(
        traced_app,
        endpoint,
        timeout=0.3,
        schedule_delay=0.01,
        max_queue_size=4,
        max_export_batch_size=2,
    )
    baseline = _time_requests(baseline_app)
    with caplog.at_level(logging.INFO):
        elapsed = _time_requests(app)
    # Not a speed test: an export that held requests would cost each one the exporter's 0.3 s
    # time-out (12 s for 40); the margin only absorbs a busy machine.
    assert elapsed < baseline * 2 + 1.5, (elapsed, baseline)

    health = app.extras["health"]
    assert health["status"] == "up", "a dead collector never makes the service unready"
    tracing = health["checks"]["tracing"]
    assert tracing["status"] == "up"
    assert tracing["dropping"] is True
    assert tracing["spans_dropped"] > 0
    assert tracing["spans_exported"] == 0
    assert tracing["last_error"]

    warnings = [r for r in caplog.records if r.getMessage().startswith("tracing: dropped")]
    assert len(warnings) == 1, "rate-limited: one warning per minute"
    assert endpoint in warnings[0].getMessage()
    exporter_noise = [r for r in caplog.records if r.name.startswith("opentelemetry.exporter")]
    assert exporter_noise == []


def test_each_forked_worker_exports_its_own_spans(
    global_tracer_provider, traced_app, otlp_receiver
):
    # gunicorn --preload: the app is built in the master, which forks the workers
    app = _otlp_app(traced_app, otlp_receiver.url, schedule_delay=60)
    runtime = chassis_tracing.runtime(app)
    runtime.tracer.start_span("in the master").end()  # its processor starts, the span waits
    assert runtime.processor.started
    pid = os.fork()
    if pid == 0:  # the worker: a processor of its own, none of the master's queue
        code = 1
        try:
            fresh = not runtime.processor.started and runtime.stats.ended == 0
            with app.test_client() as client:
                client.get("/api/items/2")
            code = 0 if fresh and chassis_tracing.force_flush(app, timeout=5) else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + 20
    while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    if done == (0, 0):
        os.kill(pid, 9)
        pytest.fail("the forked worker hung")
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert [s["name"] for s in otlp_receiver.spans()] == ["GET /api/items/{item_id}"]
    assert chassis_tracing.force_flush(app, timeout=5)
    assert sorted(s["name"] for s in otlp_receiver.spans()) == [
        "GET /api/items/{item_id}",
        "in the master",
    ]


def test_a_silent_collector_does_not_hold_up_shutdown(
    global_tracer_provider, traced_app, silent_collector
):
    app = _otlp_app(traced_app, silent_collector, schedule_delay=0.01)  # 10 s export timeout
    runtime = chassis_tracing.runtime(app)
    started = time.perf_counter()
    with app.test_client() as client:
        for number in range(5):
            client.get(f"/api/items/{number + 1}")
        time.sleep(1.2)  # the first export is now stalled
        assert runtime.stats.failing()
    runtime.provider.shutdown()  # what runs at interpreter exit
    assert time.perf_counter() - started < 4


def test_otlp_over_grpc_to_an_unreachable_collector(
    global_tracer_provider, traced_app, refusing_collector
):
    app = _otlp_app(
        traced_app, refusing_collector, protocol="grpc", timeout=0.5, schedule_delay=0.01
    )
    with app.test_client() as client:
        for number in range(5):
            assert client.get(f"/api/items/{number + 1}").status_code == 200
        deadline = time.monotonic() + 5
        while not chassis_tracing.runtime(app).stats.export_failures:
            assert time.monotonic() < deadline, "the gRPC export never failed"
            time.sleep(0.05)
        tracing = client.get("/readyz").json()["checks"]["tracing"]
    assert tracing["exporter"] == "otlp"
    assert tracing["endpoint"] == refusing_collector
    assert tracing["spans_dropped"] > 0
