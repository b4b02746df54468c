"""Exemplars: the request-duration histogram links to the request's trace in a real
OpenMetrics scrape (parsed with prometheus_client's OpenMetrics parser)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import chassis_metrics
import chassis_tracing
import pytest
from metrics_support import SPEC
from prometheus_client.openmetrics.parser import text_string_to_metric_families

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-01"
NOT_SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-00"


@pytest.fixture
def chassis_app_class(app_class: Any) -> Any:
    return app_class


def _app(make_chassis_app: Any, *, tracing: bool = True, **metrics: Any) -> Any:
    plugins = {"tracing": chassis_tracing, "metrics": chassis_metrics}
    if not tracing:
        del plugins["tracing"]
    return make_chassis_app(
        spec=SPEC,
        plugins=plugins,
        settings={"tracing": {"exporter": "none"}, "metrics": metrics},
    )


def _exemplars(client: Any) -> list[tuple[dict[str, str], Any]]:
    """(bucket labels, exemplar) of every request-duration bucket that has one."""
    response = client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    found = []
    for family in text_string_to_metric_families(response.text):
        if family.name != "http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.exemplar is not None:
                found.append((dict(sample.labels), sample.exemplar))
    return found


def test_sampled_request_leaves_its_trace_id_on_the_histogram(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app)
    with app.test_client() as client:
        response = client.get("/items/7", headers={"traceparent": SAMPLED})
        assert response.status_code == 200
        exemplars = _exemplars(client)

    assert len(exemplars) == 1
    labels, exemplar = exemplars[0]
    assert labels["route"] == "/items/{item_id}"
    assert labels["status"] == "200"
    assert exemplar.labels["trace_id"] == TRACE_ID
    span_id = exemplar.labels["span_id"]
    assert len(span_id) == 16 and span_id != PARENT_ID  # the server span, a child of the caller
    assert exemplar.value > 0
    assert exemplar.timestamp is not None
    # The exemplar sits on the first bucket that holds the observation.
    assert exemplar.value <= float(labels["le"])


def test_each_route_and_status_links_its_own_trace(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app)
    with app.test_client() as client:
        assert client.get("/items/1").status_code == 200
        assert client.get("/boom").status_code == 500
        exemplars = _exemplars(client)
    by_route = {(labels["route"], labels["status"]): ex for labels, ex in exemplars}
    assert set(by_route) == {("/items/{item_id}", "200"), ("/boom", "500")}
    trace_ids = {ex.labels["trace_id"] for ex in by_route.values()}
    assert len(trace_ids) == 2  # two requests, two new traces
    assert all(len(trace_id) == 32 and int(trace_id, 16) for trace_id in trace_ids)


def test_unsampled_request_has_no_exemplar(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app)
    with app.test_client() as client:
        assert client.get("/items/7", headers={"traceparent": NOT_SAMPLED}).status_code == 200
        assert _exemplars(client) == []


def test_exemplars_can_be_switched_off(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app, exemplars=False)
    with app.test_client() as client:
        assert client.get("/items/7", headers={"traceparent": SAMPLED}).status_code == 200
        assert _exemplars(client) == []


def test_no_tracer_no_exemplar(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app, tracing=False)
    with app.test_client() as client:
        assert client.get("/items/7", headers={"traceparent": SAMPLED}).status_code == 200
        assert _exemplars(client) == []


def test_prometheus_text_format_stays_without_exemplars(make_chassis_app: Any) -> None:
    app = _app(make_chassis_app)
    with app.test_client() as client:
        client.get("/items/7", headers={"traceparent": SAMPLED})
        text = client.get("/metrics").text
    assert "http_request_duration_seconds_bucket" in text
    assert TRACE_ID not in text


def test_start_up_says_exemplars_are_on(make_chassis_app: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="chassis.metrics")
    _app(make_chassis_app)
    assert any("exemplars on" in record.getMessage() for record in caplog.records)


SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
import chassis, chassis_metrics, chassis_tracing
sys.path.insert(0, {tests!r})
from metrics_support import SPEC
app = chassis.{cls}("mp", settings={{
    "plugins": [], "tracing": {{"exporter": "none"}}, "metrics": {{"exemplars": True}},
}}, plugins={{"tracing": chassis_tracing, "metrics": chassis_metrics}})
app.add_api(SPEC)
with app.test_client() as client:
    assert client.get(
        "/items/1", headers={{"traceparent": "00-{trace}-00f067aa0ba902b7-01"}}
    ).status_code == 200
    body = client.get("/metrics", headers={{"Accept": "application/openmetrics-text"}}).text
open("scrape.txt", "w").write(body)
"""


def test_multiprocess_mode_says_it_keeps_no_exemplars(tmp_path: Path, app_class: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set before start-up, the operator reads why there are no
    exemplars, and the scrape indeed has none (but has the request)."""
    directory = tmp_path / "prom"
    directory.mkdir()
    script = SCRIPT.format(tests=str(Path(__file__).parent), cls=app_class.__name__, trace=TRACE_ID)
    env = {
        key: value for key, value in os.environ.items() if not key.upper().startswith("CHASSIS_")
    }
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    env["CHASSIS_ENV_FILE"] = ""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    assert "no exemplars in multiprocess mode (PROMETHEUS_MULTIPROC_DIR is set)" in logged
    scraped = (tmp_path / "scrape.txt").read_text()
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    buckets = [
        s
        for s in families["http_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels.get("route") == "/items/{item_id}"
    ]
    assert buckets and max(s.value for s in buckets) == 1.0
    assert all(s.exemplar is None for s in buckets)
    assert TRACE_ID not in scraped


NO_OTEL = """
import sys
sys.modules["opentelemetry"] = None  # as if only chassis-core and chassis-metrics were installed
import chassis, chassis_metrics
settings = {{"plugins": [], "metrics": {metrics}}}
try:
    chassis.{cls}("x", settings=settings, plugins={{"metrics": chassis_metrics}})
except chassis.PluginError as error:
    print("ERROR", error)
else:
    print("STARTED")
"""


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [("{}", "STARTED"), ('{"exemplars": True}', "ERROR")],
    ids=["default", "explicit"],
)
def test_without_opentelemetry(tmp_path: Path, app_class: Any, metrics: str, expected: str) -> None:
    """No OpenTelemetry API installed: exemplars quietly off by default; asked for
    explicitly, start-up stops naming the setting and what to install."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CHASSIS_")}
    env["CHASSIS_ENV_FILE"] = ""
    result = subprocess.run(
        [sys.executable, "-c", NO_OTEL.format(metrics=metrics, cls=app_class.__name__)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    if expected == "ERROR":
        assert "CHASSIS_METRICS__EXEMPLARS=true needs the OpenTelemetry API" in result.stdout
        assert "pip install chassis-tracing" in result.stdout
