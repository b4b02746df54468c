"""Logs in traces (span events) and traces in logs (trace ids in log lines and error bodies)."""

from __future__ import annotations

import json
import logging

import pytest


def _log_events(span):
    return [
        (e.name, e.attributes["log.severity"], e.attributes["log.message"])
        for e in span.events
        if "log.severity" in e.attributes
    ]


def test_log_records_become_events_from_info_by_default(traced_app, spans):
    with traced_app().test_client() as client:
        assert client.get("/api/log").status_code == 200
    assert _log_events(spans.server()) == [
        ("log", "INFO", "info line"),
        ("log", "WARNING", "warning line"),
        ("exception", "ERROR", "handled error"),
    ]
    (exception,) = [e for e in spans.server().events if e.name == "exception"]
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == "handled"
    assert exception.attributes["log.logger"] == "tracing_views"


def test_use_logging_level_sets_the_threshold(traced_app, spans):
    # connexion-plus's keyword, mapped by the kernel onto settings.tracing.log_level
    app = traced_app(use_logging_level=logging.WARNING)
    assert app.settings.tracing.log_level == "WARNING"
    with app.test_client() as client:
        client.get("/api/log")
    assert [m for _, _, m in _log_events(spans.server())] == ["warning line", "handled error"]
    # a handled exception logged in a 200 response does not make the span an error
    assert "error.type" not in spans.server().attributes


def test_debug_events_when_both_levels_allow(traced_app, spans):
    app = traced_app({"log_level": "DEBUG", "tracing": {"log_level": "debug"}})
    with app.test_client() as client:
        client.get("/api/log")
    assert ("log", "DEBUG", "debug line") in _log_events(spans.server())


def test_log_level_off(traced_app, spans):
    app = traced_app({"tracing": {"log_level": "OFF"}})
    with app.test_client() as client:
        client.get("/api/log")
    assert _log_events(spans.server()) == []


def test_records_outside_a_span_are_ignored(traced_app, spans):
    traced_app()
    logging.getLogger("tracing_views").warning("not in a request")
    assert spans.all() == []


def test_trace_ids_in_text_log_lines(traced_app, spans, capsys):
    with traced_app().test_client() as client:
        request_id = client.get("/api/items/5").headers["X-Request-ID"]
    span = spans.server()
    trace_id = format(span.context.trace_id, "032x")
    span_id = format(span.context.span_id, "016x")
    lines = [line for line in capsys.readouterr().out.splitlines() if "loading item 5" in line]
    assert len(lines) == 1
    assert f"[{request_id}]" in lines[0]
    assert lines[0].endswith(f"trace_id={trace_id} span_id={span_id}")


def test_trace_ids_in_json_log_lines(traced_app, spans, capsys):
    app = traced_app({"log_format": "json"})
    with app.test_client() as client:
        client.get("/api/items/5")
    span = spans.server()
    entries = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"{' not in line
    ]
    (entry,) = [e for e in entries if e.get("message") == "loading item 5"]
    assert entry["trace_id"] == format(span.context.trace_id, "032x")
    assert entry["span_id"] == format(span.context.span_id, "016x")


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/items/0", {}, 400),
        ("/api/secure", {}, 401),
        ("/api/nowhere", {}, 404),
        ("/api/fail", {}, 500),
    ],
)
def test_trace_ids_in_error_bodies(traced_app, spans, path, headers, status):
    with traced_app().test_client() as client:
        response = client.get(path, headers=headers)
    assert response.status_code == status
    body = response.json()
    span = spans.server()
    assert body["trace_id"] == format(span.context.trace_id, "032x")
    assert body["span_id"] == format(span.context.span_id, "016x")
    assert body["request_id"] == response.headers["X-Request-ID"]
