"""The /metrics endpoint: format, negotiation, settings, the info metric, a separate port."""

from __future__ import annotations

import gzip
from typing import Any

import chassis
import chassis_metrics
import httpx
import pytest
from metrics_support import PLUGINS, SPEC, families, parse, scrape, series, value


def test_metrics_endpoint_serves_prometheus_text(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with app.test_client() as client:
        client.get("/items/1")
        response = client.get("/metrics", headers={"X-Request-ID": "scrape-1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"] == "scrape-1"
    types = families(response.text)
    assert types["http_requests"] == "counter"
    assert types["http_request_duration_seconds"] == "histogram"
    assert types["http_requests_in_progress"] == "gauge"
    assert types["http_request_exceptions"] == "counter"
    assert types["chassis_service_info"] == "gauge"
    # Process metrics of this app's own registry (single-process mode).
    assert "process_cpu_seconds" in types or "python_info" in types
    assert "# HELP http_request_duration_seconds Time from receiving" in response.text


def test_metrics_info_metric_names_service_versions_and_plugins(make_chassis_app: Any) -> None:
    other = _RegistersAMetric()
    app = make_chassis_app(
        spec=SPEC,
        plugins={"metrics": chassis_metrics, "other": other},
        settings={"service_name": "directmail", "service_version": "1.2.3"},
    )
    with app.test_client() as client:
        samples = scrape(client)
    assert samples["chassis_service_info"] == [
        (
            {
                "service": "directmail",
                "version": "1.2.3",
                "chassis_version": chassis.__version__,
                "plugins": "metrics,other",
            },
            1.0,
        )
    ]


def test_metrics_openmetrics_gzip_head_and_name_filter(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with app.test_client() as client:
        client.get("/items/1")
        openmetrics = client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
        refused = client.get("/metrics", headers={"Accept-Encoding": "gzip;q=0, br"})
        head = client.head("/metrics")
        only = client.get("/metrics", params={"name[]": "http_requests_total"})
        posted = client.post("/metrics")
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert "http_requests_total" in zipped.text  # httpx decodes it
    assert "content-encoding" not in refused.headers
    assert head.status_code == 200 and head.content == b""
    assert set(families(only.text)) == {"http_requests"}
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"
    assert posted.headers["content-type"] == "application/problem+json"
    assert posted.json()["status"] == 405 and "request_id" in posted.json()


def test_metrics_gzip_body_is_valid(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with (
        app.test_client() as client,
        client.stream("GET", "/metrics", headers={"Accept-Encoding": "gzip"}) as response,
    ):
        raw = b"".join(response.iter_raw())
    assert response.headers["content-length"] == str(len(raw))
    assert "chassis_service_info" in parse(gzip.decompress(raw).decode())


def test_metrics_path_and_namespace_settings(make_chassis_app: Any) -> None:
    app = make_chassis_app(
        spec=SPEC,
        plugins=PLUGINS,
        settings={"metrics": {"path": "/internal/prom", "namespace": "directmail"}},
    )
    with app.test_client() as client:
        client.get("/items/1")
        assert client.get("/metrics").status_code == 404  # a normal unknown route now
        samples = scrape(client, "/internal/prom")
    assert value(samples, "directmail_http_requests_total", route="/items/{item_id}") == 1
    assert value(samples, "directmail_http_requests_total", route="<unmatched>") == 1
    assert "http_requests_total" not in samples


def test_metrics_settings_from_environment(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHASSIS_METRICS__BUCKETS", "0.1, 1,10")
    monkeypatch.setenv("CHASSIS_METRICS__EXCLUDE_PATHS", "/items/1,/ui/*")
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    settings = app.settings.metrics  # type: ignore[attr-defined]
    assert settings.buckets == [0.1, 1.0, 10.0]
    assert settings.exclude_paths == ["/items/1", "/ui/*"]


@pytest.mark.parametrize(
    ("section", "variable", "message"),
    [
        ({"buckets": [1, 0.5]}, "CHASSIS_METRICS__BUCKETS", "strictly increasing"),
        ({"buckets": [-1]}, "CHASSIS_METRICS__BUCKETS", "positive"),
        ({"namespace": "my-service"}, "CHASSIS_METRICS__NAMESPACE", "metric name"),
        ({"path": "metrics"}, "CHASSIS_METRICS__PATH", "pattern"),
        ({"exclude_paths": ["healthz"]}, "CHASSIS_METRICS__EXCLUDE_PATHS", "start with '/'"),
        ({"port": 70000}, "CHASSIS_METRICS__PORT", "65535"),
        ({"colour": "red"}, "CHASSIS_METRICS__COLOUR", "unknown setting"),
    ],
)
def test_metrics_invalid_settings_stop_start_up_naming_the_variable(
    make_chassis_app: Any, section: dict[str, Any], variable: str, message: str
) -> None:
    with pytest.raises(chassis.SettingsError) as error:
        make_chassis_app(spec=SPEC, plugins=PLUGINS, settings={"metrics": section})
    assert variable in str(error.value)
    assert message in str(error.value)


def test_metrics_on_a_separate_port(make_chassis_app: Any) -> None:
    app = make_chassis_app(
        spec=SPEC, plugins=PLUGINS, settings={"metrics": {"port": 0, "host": "127.0.0.1"}}
    )
    state = app.plugin_context("metrics").state
    with app.test_client() as client:
        client.get("/items/1")
        assert client.get("/metrics").status_code == 404  # not on the service's port
        port = state.port_server.bound_port
        assert port
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    samples = parse(response.text)
    assert value(samples, "http_requests_total", route="/items/{item_id}", status="200") == 1
    assert series(samples, "http_requests_total") == [
        {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    ]  # /metrics on the service's port is excluded even when not served there
    assert state.port_server.bound_port is None  # stopped with the app
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_metrics_separate_port_in_use_stops_start_up(make_chassis_app: Any) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = make_chassis_app(
            spec=SPEC, plugins=PLUGINS, settings={"metrics": {"port": port, "host": "127.0.0.1"}}
        )
        with (
            pytest.raises(
                RuntimeError, match=r"plugin .metrics. failed in startup.*CHASSIS_METRICS__PORT"
            ),
            app.test_client(),
        ):
            pass


def test_metrics_endpoint_under_a_root_path(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with app.test_client(root_path="/svc") as client:  # uvicorn --root-path /svc
        client.get("/svc/items/1")
        response = client.get("/svc/metrics")
    assert response.status_code == 200
    assert 'route="/items/{item_id}"' in response.text


def test_metrics_disabled_plugin_serves_nothing(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS, settings={"metrics": {"enabled": False}})
    with app.test_client() as client:
        assert client.get("/metrics").status_code == 404
    assert chassis_metrics.get_registry(app) is None


class _RegistersAMetric:
    """A plugin that registers a metric of its own on the app's registry."""

    chassis_plugin_name = "other"

    @chassis.hookimpl
    def configure_app(self, app: chassis.App) -> None:
        metrics = app.plugin_manager.get_plugin("metrics")
        if metrics is None:
            return
        from prometheus_client import Counter

        self.counter = Counter("other_things_total", "Things.", registry=metrics.get_registry(app))
