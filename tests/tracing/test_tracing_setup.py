"""Tracer set-up: from settings, from use_tracer=, from the global provider; settings errors."""

from __future__ import annotations

import json
import logging

import chassis
import chassis_tracing
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def _settings_app(traced_app, tracing=None, **core):
    """An app whose provider the plugin builds from settings (no use_tracer=)."""
    return traced_app({**core, "tracing": tracing or {}}, use_tracer=None)


def _record(app, spans):
    """Also send the spans of the plugin-built provider to the test's in-memory exporter."""
    runtime = chassis_tracing.runtime(app)
    assert runtime is not None and runtime.source == "settings"
    runtime.provider.add_span_processor(SimpleSpanProcessor(spans.exporter))
    return runtime


def test_provider_from_settings_with_service_identity(global_tracer_provider, traced_app, spans):
    app = _settings_app(
        traced_app,
        {"exporter": "none"},
        service_name="directmail",
        service_version="1.2.3",
    )
    runtime = _record(app, spans)
    assert trace.get_tracer_provider() is runtime.provider, "installed as the global provider"
    with app.test_client() as client:
        assert client.get("/api/global-child").status_code == 200
        tracing = client.get("/readyz").json()["checks"]["tracing"]
    server = spans.server()
    assert server.resource.attributes["service.name"] == "directmail"
    assert server.resource.attributes["service.version"] == "1.2.3"
    (child,) = [s for s in spans.all() if s.name == "global child"]
    assert child.parent.span_id == server.context.span_id
    assert tracing == {
        "status": "up",
        "exporter": "none",
        "source": "settings",
        "sampling_ratio": 1.0,
    }


def test_each_app_gets_its_own_provider(global_tracer_provider, traced_app, spans):
    first = _settings_app(traced_app, {"exporter": "none"})
    second = _settings_app(traced_app, {"exporter": "none", "sampling_ratio": 0})
    one, two = chassis_tracing.runtime(first), chassis_tracing.runtime(second)
    assert one.provider is not two.provider
    assert two.sampling_ratio == 0
    assert trace.get_tracer_provider() is one.provider


def test_sampling_ratio_zero_records_nothing_but_keeps_ids(
    global_tracer_provider, traced_app, spans
):
    app = _settings_app(traced_app, {"exporter": "none", "sampling_ratio": 0})
    _record(app, spans)
    with app.test_client() as client:
        body = client.get("/api/nowhere").json()
        assert len(body["trace_id"]) == 32
        outgoing = client.get("/api/outgoing").json()
        assert not int(outgoing["traceparent"][-2:], 16) & 1, "not sampled, passed on"
        # parent-based: a caller's sampled decision wins over the ratio
        client.get(
            "/api/items/1",
            headers={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        )
    assert [s.name for s in spans.all()] == ["GET /api/items/{item_id}"]


def test_use_tracer_accepts_a_tracer(traced_app, provider, spans):
    app = traced_app(use_tracer=provider.get_tracer("mine"))
    with app.test_client() as client:
        client.get("/api/items/1")
    assert spans.server().instrumentation_scope.name == "mine"
    assert chassis_tracing.runtime(app).source == "use_tracer"


def test_use_tracer_rejects_other_objects(traced_app):
    class OpenTracingTracer:
        def start_active_span(self, name):  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(chassis.PluginError, match="OpenTracing") as error:
        traced_app(use_tracer=OpenTracingTracer())
    assert "TracerProvider" in str(error.value)


def test_use_tracer_false_switches_tracing_off(traced_app, spans):
    app = traced_app({"plugins": []}, use_tracer=False)
    with app.test_client() as client:
        body = client.get("/api/nowhere").json()
    assert "trace_id" not in body
    assert chassis_tracing.runtime(app) is None


def test_disabled_by_environment(monkeypatch, traced_app, spans):
    monkeypatch.setenv("CHASSIS_TRACING__ENABLED", "false")
    app = traced_app(use_tracer=None)
    with app.test_client() as client:
        assert "trace_id" not in client.get("/api/nowhere").json()
    assert spans.all() == []


def test_settings_from_the_environment(monkeypatch, traced_app):
    monkeypatch.setenv("CHASSIS_TRACING__SAMPLING_RATIO", "0.25")
    monkeypatch.setenv("CHASSIS_TRACING__EXCLUDE_PATHS", "/a,/b/*")
    monkeypatch.setenv("CHASSIS_TRACING__LOG_LEVEL", "warn")
    section = traced_app().settings.tracing
    assert section.sampling_ratio == 0.25
    assert section.exclude_paths == ["/a", "/b/*"]
    assert section.log_level == "WARNING"


@pytest.mark.parametrize(
    ("tracing", "variable", "message"),
    [
        ({"endpoint": "collector:4318"}, "CHASSIS_TRACING__ENDPOINT", "http:// or https://"),
        ({"headers": "authorization"}, "CHASSIS_TRACING__HEADERS", "not key=value"),
        ({"sampling_ratio": 1.5}, "CHASSIS_TRACING__SAMPLING_RATIO", "less than or equal"),
        ({"exporter": "jaeger"}, "CHASSIS_TRACING__EXPORTER", "'otlp'"),
        ({"log_level": "LOUD"}, "CHASSIS_TRACING__LOG_LEVEL", "'INFO'"),
        ({"sample": 1}, "CHASSIS_TRACING__SAMPLE", "unknown setting"),
    ],
)
def test_invalid_settings_stop_start_up(traced_app, tracing, variable, message):
    with pytest.raises(chassis.SettingsError) as error:
        traced_app({"tracing": tracing})
    assert variable in str(error.value)
    assert message in str(error.value)


def test_invalid_headers_are_not_echoed(traced_app):
    with pytest.raises(chassis.SettingsError) as error:
        traced_app({"tracing": {"headers": "api-key=s3cr3t,broken"}})
    assert "s3cr3t" not in str(error.value)


def test_use_logging_level_as_number(traced_app):
    assert traced_app(use_logging_level=logging.ERROR).settings.tracing.log_level == "ERROR"
    assert traced_app(use_logging_level="debug").settings.tracing.log_level == "DEBUG"


def test_exporter_auto_follows_the_otel_endpoint_variable(
    monkeypatch, global_tracer_provider, traced_app
):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:pw@collector:4318")
    app = _settings_app(traced_app)
    with app.test_client() as client:
        tracing = client.get("/readyz").json()["checks"]["tracing"]
    assert tracing["exporter"] == "otlp"
    assert tracing["endpoint"] == "http://***@collector:4318/v1/traces", "no credentials shown"
    assert tracing["spans_dropped"] == 0


def test_exporter_auto_without_endpoint_exports_nothing(global_tracer_provider, traced_app):
    app = _settings_app(traced_app)
    assert chassis_tracing.runtime(app).exporter == "none"


def test_grpc_protocol(global_tracer_provider, traced_app):
    app = _settings_app(
        traced_app, {"exporter": "otlp", "protocol": "grpc", "endpoint": "http://collector:4317"}
    )
    runtime = chassis_tracing.runtime(app)
    assert runtime.exporter == "otlp"
    assert runtime.endpoint == "http://collector:4317"


def test_console_exporter_prints_spans(global_tracer_provider, traced_app, capsys):
    app = _settings_app(traced_app, {"exporter": "console"})
    with app.test_client() as client:  # the lifespan's shutdown flushes the batch
        client.get("/api/items/3")
    out = capsys.readouterr().out
    start = out.index("{\n")
    span = json.loads(out[start : out.index("\n}", start) + 2])
    assert span["name"] == "GET /api/items/{item_id}"
    assert span["attributes"]["http.route"] == "/api/items/{item_id}"


def test_application_provider_configured_globally_wins(
    global_tracer_provider, traced_app, spans, caplog
):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans.exporter))
    trace.set_tracer_provider(provider)
    with caplog.at_level(logging.INFO, logger="chassis.tracing"):
        app = _settings_app(traced_app, {"exporter": "otlp", "endpoint": "http://c:4318"})
    assert chassis_tracing.runtime(app).provider is provider
    assert "exporter settings of [tracing] are not used" in caplog.text
    with app.test_client() as client:
        client.get("/api/items/1")
    assert spans.server().name == "GET /api/items/{item_id}"
