"""The chassis metrics pushed over OTLP/HTTP, read by a real receiver that decodes the
protobuf requests as a collector would. Pushes are made on demand (``push_metrics`` and the
shutdown push): no test waits on the schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chassis
import chassis_metrics
import chassis_tracing
import pytest
from metrics_support import SPEC
from otlp_support import OtlpCollector

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
HOUR = 3600.0  # the schedule never fires during a test


@pytest.fixture
def chassis_app_class(app_class: Any) -> Any:
    return app_class


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as receiver:
        yield receiver


def _app(make_chassis_app: Any, collector: OtlpCollector | None, **metrics: Any) -> Any:
    section: dict[str, Any] = {"otlp": True, "otlp_interval": HOUR, **metrics}
    if collector is not None:
        section.setdefault("otlp_endpoint", collector.url)
    return make_chassis_app(
        spec=SPEC,
        plugins={"tracing": chassis_tracing, "metrics": chassis_metrics},
        settings={
            "service_name": "directmail",
            "service_version": "2.1.0",
            "tracing": {"exporter": "none"},
            "metrics": section,
        },
    )


def _point(metric: dict[str, Any], **attributes: str) -> Any:
    for point in metric["data"].data_points:
        found = {pair.key: pair.value.string_value for pair in point.attributes}
        if all(found.get(k) == v for k, v in attributes.items()):
            return point
    raise AssertionError(f"no point with {attributes} in {metric['name']}")


def test_request_metrics_reach_the_collector(
    make_chassis_app: Any, collector: OtlpCollector
) -> None:
    app = _app(make_chassis_app, collector, otlp_headers="x-tenant=acme")
    with app.test_client() as client:
        for _ in range(3):
            assert client.get("/items/7", headers={"traceparent": SAMPLED}).status_code == 200
        assert client.get("/boom").status_code == 500
        assert chassis_metrics.push_metrics(app) is True

        requests = collector.last_metric("http_requests")
        assert requests["kind"] == "sum"
        assert requests["data"].is_monotonic
        assert requests["data"].aggregation_temporality == 2  # cumulative
        assert _point(requests, route="/items/{item_id}", status="200", method="GET").as_int == 0
        assert _point(requests, route="/items/{item_id}", status="200").as_double == 3.0
        assert _point(requests, route="/boom", status="500").as_double == 1.0
        assert requests["resource"]["service.name"] == "directmail"
        assert requests["resource"]["service.version"] == "2.1.0"
        assert requests["resource"]["service.instance.id"]
        assert requests["scope"] == "chassis_metrics"
        assert requests["headers"]["x-tenant"] == "acme"

        duration = collector.last_metric("http_request_duration_seconds")
        assert duration["kind"] == "histogram"
        point = _point(duration, route="/items/{item_id}", status="200")
        assert point.count == 3
        assert sum(point.bucket_counts) == 3
        assert list(point.explicit_bounds) == list(chassis_metrics.DEFAULT_BUCKETS)
        assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
        assert point.sum > 0
        # The exemplar of the sampled requests travels with its trace id.
        assert point.exemplars
        assert {e.trace_id.hex() for e in point.exemplars} == {TRACE_ID}

        info = collector.last_metric("chassis_service_info")
        assert info["kind"] == "gauge"
        assert _point(info, service="directmail", version="2.1.0").as_double == 1.0

        # Cumulative, like a scrape: the next push carries the totals.
        assert client.get("/items/8").status_code == 200
        assert chassis_metrics.push_metrics(app) is True
        requests = collector.last_metric("http_requests")
        assert _point(requests, route="/items/{item_id}", status="200").as_double == 4.0

        health = client.get("/readyz").json()
    pushed = health["checks"]["metrics_otlp"]
    assert pushed["status"] == "up"
    assert pushed["pushes"] == 2
    assert pushed["failures"] == 0
    assert pushed["endpoint"] == f"{collector.url}/v1/metrics"


def test_other_plugins_metrics_are_pushed_too(
    make_chassis_app: Any, collector: OtlpCollector
) -> None:
    from prometheus_client import Counter

    app = _app(make_chassis_app, collector)
    hits = Counter(
        "cache_hits", "Cache hits.", ("cache",), registry=chassis_metrics.get_registry(app)
    )
    hits.labels("premises").inc(5)
    with app.test_client():
        assert chassis_metrics.push_metrics(app) is True
    assert _point(collector.last_metric("cache_hits"), cache="premises").as_double == 5.0


def test_shutdown_pushes_a_last_time(make_chassis_app: Any, collector: OtlpCollector) -> None:
    app = _app(make_chassis_app, collector)
    with app.test_client() as client:
        assert client.get("/items/1").status_code == 200
        assert collector.requests("/v1/metrics") == []
    # Leaving the client ran the lifespan shutdown.
    requests = collector.last_metric("http_requests")
    assert _point(requests, route="/items/{item_id}").as_double == 1.0


def test_endpoint_and_headers_follow_the_tracing_plugin(
    make_chassis_app: Any, collector: OtlpCollector
) -> None:
    app = make_chassis_app(
        spec=SPEC,
        plugins={"tracing": chassis_tracing, "metrics": chassis_metrics},
        settings={
            "tracing": {
                "exporter": "otlp",
                "endpoint": collector.url,
                "headers": "authorization=Bearer%20t0ken",
            },
            "metrics": {"otlp": True, "otlp_interval": HOUR},
        },
    )
    try:
        with app.test_client() as client:
            client.get("/items/1")
            assert chassis_metrics.push_metrics(app) is True
        metric = collector.last_metric("http_requests")
        assert metric["headers"]["authorization"] == "Bearer t0ken"
    finally:
        chassis_tracing.runtime(app).provider.shutdown()


def test_a_refusing_collector_shows_in_health(
    make_chassis_app: Any, collector: OtlpCollector
) -> None:
    collector.status = 400  # a refusal the exporter does not retry
    app = _app(make_chassis_app, collector)
    with app.test_client() as client:
        assert client.get("/items/1").status_code == 200
        assert chassis_metrics.push_metrics(app) is False
        response = client.get("/readyz")
    assert response.status_code == 200  # a collector that is down keeps the service ready
    body = response.json()
    pushed = body["checks"]["metrics_otlp"]
    assert pushed["failures"] == 1
    assert pushed["failing"] is True
    assert "400" in pushed["last_error"]


def test_grpc_tracing_without_a_metrics_endpoint_is_a_start_up_error(
    make_chassis_app: Any,
) -> None:
    with pytest.raises(chassis.PluginError) as caught:
        make_chassis_app(
            spec=SPEC,
            plugins={"tracing": chassis_tracing, "metrics": chassis_metrics},
            settings={
                "tracing": {"exporter": "none", "protocol": "grpc", "endpoint": "http://c:4317"},
                "metrics": {"otlp": True},
            },
        )
    assert "CHASSIS_METRICS__OTLP_ENDPOINT" in str(caught.value)


def test_bad_headers_name_the_setting_without_echoing_them(make_chassis_app: Any) -> None:
    with pytest.raises(Exception) as caught:
        _app(make_chassis_app, None, otlp_headers="s3cret-no-equals")
    assert "CHASSIS_METRICS__OTLP_HEADERS" in str(caught.value)
    assert "s3cret" not in str(caught.value)


PUSH_SCRIPT = """
import sys
import chassis, chassis_metrics
sys.path.insert(0, {tests!r})
from metrics_support import SPEC
app = chassis.{cls}("mp", settings={{
    "plugins": [], "service_name": "mp",
    "metrics": {{"otlp": True, "otlp_endpoint": {url!r}, "otlp_interval": 3600}},
}}, plugins={{"metrics": chassis_metrics}})
app.add_api(SPEC)
with app.test_client() as client:
    for number in (1, 2):
        assert client.get(f"/items/{{number}}").status_code == 200
    assert chassis_metrics.push_metrics(app) is True
"""


def test_multiprocess_mode_pushes_this_workers_figures(
    tmp_path: Path, app_class: Any, collector: OtlpCollector
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set before start-up (figures in files, for /metrics to
    add up), a worker still pushes its own figures over OTLP."""
    directory = tmp_path / "prom"
    directory.mkdir()
    script = PUSH_SCRIPT.format(
        tests=str(Path(__file__).parent), cls=app_class.__name__, url=collector.url
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CHASSIS_")}
    env.update(PROMETHEUS_MULTIPROC_DIR=str(directory), CHASSIS_ENV_FILE="")
    result = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert list(directory.glob("*.db"))  # multiprocess mode indeed
    requests = collector.last_metric("http_requests")
    assert _point(requests, route="/items/{item_id}", status="200").as_double == 2.0
    assert requests["resource"]["service.name"] == "mp"
