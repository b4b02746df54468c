"""Log records over OTLP (CHASSIS_TRACING__EXPORT_LOGS): what a real receiver gets, with the
trace and span ids of the request that logged them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import chassis
import chassis_tracing
import pytest
from otlp_support import OtlpCollector

SEVERITY_INFO = 9  # opentelemetry.proto.logs.v1.SeverityNumber.SEVERITY_NUMBER_INFO
SEVERITY_WARN = 13
SEVERITY_ERROR = 17
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def chassis_app_class(app_class: Any) -> Any:
    return app_class


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as receiver:
        yield receiver


def _app(traced_app: Any, collector: OtlpCollector, **tracing: Any) -> Any:
    settings = {
        "service_name": "directmail",
        "service_version": "2.0.0",
        "tracing": {"exporter": "otlp", "endpoint": collector.url, "export_logs": True, **tracing},
    }
    return traced_app(settings, use_tracer=None)


def _by_body(collector: OtlpCollector) -> dict[str, dict[str, Any]]:
    return {record["body"]: record for record in collector.logs()}


def test_request_logs_reach_the_collector_with_their_trace(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    app = _app(traced_app, collector, headers="x-tenant=acme")
    with app.test_client() as client:
        response = client.get(
            "/api/items/4", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
        )
        assert response.status_code == 200
        assert chassis_tracing.force_flush(app) is True

        logs = _by_body(collector)
        record = logs["loading item 4"]
        server = next(s for s in collector.spans() if s["name"] == "GET /api/items/{item_id}")
        assert record["trace_id"] == TRACE_ID == server["trace_id"]
        assert record["span_id"] == server["span_id"]
        assert record["severity_text"] == "INFO"
        assert record["severity_number"] == SEVERITY_INFO
        assert record["resource"]["service.name"] == "directmail"
        assert record["resource"]["service.version"] == "2.0.0"
        assert record["scope"] == "tracing_views"
        assert record["headers"]["x-tenant"] == "acme"
        assert record["headers"]["content-type"] == "application/x-protobuf"


def test_levels_and_exceptions(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    app = _app(traced_app, collector, logs_level="WARNING")
    with app.test_client() as client:
        assert client.get("/api/log").status_code == 200
    # Leaving the client ran the lifespan shutdown, which flushed the log records.
    logs = _by_body(collector)
    assert "info line" not in logs and "debug line" not in logs
    assert logs["warning line"]["severity_number"] == SEVERITY_WARN
    error = logs["handled error"]
    assert error["severity_number"] == SEVERITY_ERROR
    assert error["attributes"]["exception.type"] == "ValueError"
    assert "raise ValueError" in error["attributes"]["exception.stacktrace"]
    assert len(error["trace_id"]) == 32 and int(error["trace_id"], 16)


def test_records_outside_requests_have_no_trace(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    app = _app(traced_app, collector)
    with app.test_client():
        logging.getLogger("jobs").warning("nightly run")
        assert chassis_tracing.force_flush(app) is True
    record = _by_body(collector)["nightly run"]
    assert record["trace_id"] == ""
    assert record["span_id"] == ""


def test_an_app_not_running_exports_nothing(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    app = _app(traced_app, collector)
    logging.getLogger("jobs").warning("before start-up")
    with app.test_client():
        logging.getLogger("jobs").warning("while running")
    logging.getLogger("jobs").warning("after shutdown")
    jobs = [record["body"] for record in collector.logs() if record["scope"] == "jobs"]
    assert jobs == ["while running"]


def test_off_by_default(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    app = traced_app({"tracing": {"exporter": "otlp", "endpoint": collector.url}}, use_tracer=None)
    with app.test_client() as client:
        assert client.get("/api/items/4").status_code == 200
    assert collector.spans()  # the spans went
    assert collector.requests("/v1/logs") == []


def test_logs_endpoint_of_its_own(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector
) -> None:
    with OtlpCollector() as logs_collector:
        app = _app(traced_app, collector, logs_endpoint=logs_collector.url)
        with app.test_client() as client:
            assert client.get("/api/items/4").status_code == 200
        assert "loading item 4" in _by_body(logs_collector)
    assert collector.requests("/v1/logs") == []


def test_start_up_says_where_logs_go(
    global_tracer_provider: None, traced_app: Any, collector: OtlpCollector, caplog: Any
) -> None:
    caplog.set_level("INFO", logger="chassis.tracing")
    app = _app(traced_app, collector, logs_level="warn")
    with app.test_client():
        pass
    assert any(
        "exporting log records from WARNING over OTLP to " + collector.url + "/v1/logs"
        in record.getMessage()
        for record in caplog.records
    )


def test_an_underivable_logs_url_names_the_setting(
    global_tracer_provider: None, traced_app: Any
) -> None:
    with pytest.raises(chassis.PluginError) as caught:
        traced_app(
            {
                "tracing": {
                    "exporter": "otlp",
                    "endpoint": "http://collector:4318/custom/spans",
                    "export_logs": True,
                }
            },
            use_tracer=None,
        )
    assert "CHASSIS_TRACING__LOGS_ENDPOINT" in str(caught.value)
