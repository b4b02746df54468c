"""The public API: the registry for other plugins, prometheus-flask-exporter's object,
``App(use_metric=...)``, and start-up errors."""

from __future__ import annotations

from typing import Any

import chassis
import chassis_metrics
import metrics_support
import pytest
from flask import request
from metrics_support import PLUGINS, SPEC, scrape, series, value
from prometheus_client import CollectorRegistry, Counter
from prometheus_flask_exporter import PrometheusMetrics

# The installed plugin, loaded through its entry point as a service would load it.
INSTALLED = {"plugins": ["metrics"]}


class CachePlugin:
    """Stands for the optimizer: counts cache hits on the metrics registry when there is one,
    without importing chassis_metrics (or prometheus_client) when there is not."""

    chassis_plugin_name = "cache"

    def __init__(self) -> None:
        self.hits: Any = None

    @chassis.hookimpl
    def configure_app(self, app: chassis.App) -> None:
        metrics = app.plugin_manager.get_plugin("metrics")
        registry = metrics.get_registry(app) if metrics is not None else None
        if registry is not None:
            from prometheus_client import Counter

            self.hits = Counter("cache_hits_total", "Cache hits.", registry=registry)


def test_metrics_other_plugins_register_on_the_same_registry(make_chassis_app: Any) -> None:
    cache = CachePlugin()
    # Listed before metrics: its configure_app runs first, and the registry is there already.
    app = make_chassis_app(spec=SPEC, plugins={"cache": cache, "metrics": chassis_metrics})
    assert cache.hits is not None
    cache.hits.inc(3)
    with app.test_client() as client:
        client.get("/items/1")
        samples = scrape(client)
    assert value(samples, "cache_hits_total") == 3
    assert value(samples, "http_requests_total") == 1
    assert chassis_metrics.get_registry(app) is app.plugin_context("metrics").state.registry


def test_metrics_registry_is_none_without_the_plugin(make_chassis_app: Any) -> None:
    cache = CachePlugin()
    app = make_chassis_app(spec=SPEC, plugins={"cache": cache})
    assert cache.hits is None
    assert chassis_metrics.get_registry(app) is None
    assert chassis_metrics.get_registry(object()) is None


def test_metrics_registries_are_per_app(make_chassis_app: Any) -> None:
    first = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    second = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    one, two = chassis_metrics.get_registry(first), chassis_metrics.get_registry(second)
    assert one is not None and two is not None and one is not two
    # The same metric name on both: no "Duplicated timeseries" clash between apps.
    Counter("same_name_total", "x", registry=one)
    Counter("same_name_total", "x", registry=two)


@pytest.mark.flask_only
def test_metrics_flask_exporter_decorators_and_info(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_chassis_app(spec=None, plugins=PLUGINS)
    metrics = chassis_metrics.get_metrics(app)
    assert isinstance(metrics, PrometheusMetrics)
    assert metrics.app is app.app
    assert metrics.registry is chassis_metrics.get_registry(app)
    assert chassis_metrics.get_metrics(app) is metrics

    metrics.info("directmail_build_info", "Build.", commit="abc123")
    counted = metrics.counter(
        "decorated_calls_total", "Calls by user agent.", labels={"agent": lambda: "test"}
    )(metrics_support.decorated)
    timed = metrics.histogram(
        "decorated_seconds", "Time.", labels={"status": lambda r: r.status_code}
    )(counted)
    monkeypatch.setattr(metrics_support, "decorated", timed)
    app.add_api(SPEC)

    with app.test_client() as client:
        assert client.get("/decorated").json() == {"plain": True}
        assert client.get("/decorated").status_code == 200
        samples = scrape(client)
    assert value(samples, "decorated_calls_total", agent="test") == 2
    assert value(samples, "decorated_seconds_count", status="200") == 2
    assert value(samples, "directmail_build_info", commit="abc123") == 1
    # Its own per-request metrics stay off: nothing is counted twice.
    assert not [name for name in samples if name.startswith("flask_")]
    assert value(samples, "http_requests_total", route="/decorated") == 2
    assert request is not None  # flask's request proxy is what label callables use


@pytest.mark.flask_only
def test_metrics_get_metrics_without_the_plugin_still_decorates(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=None, plugins={})
    metrics = chassis_metrics.get_metrics(app)
    assert isinstance(metrics, PrometheusMetrics)
    assert metrics is chassis_metrics.get_metrics(app)
    wrapped = metrics.counter("calls_total", "Calls.")(metrics_support.get_item)
    assert wrapped.__wrapped__ is metrics_support.get_item
    with app.test_client() as client:
        assert client.get("/metrics").status_code == 404


def test_metrics_use_metric_registry(make_chassis_app: Any) -> None:
    registry = CollectorRegistry()
    app = make_chassis_app(spec=SPEC, settings=INSTALLED, use_metric=registry)
    assert chassis_metrics.get_registry(app) is registry
    with app.test_client() as client:
        client.get("/items/1")
        samples = scrape(client)
    assert value(samples, "http_requests_total") == 1
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "route": "/items/{item_id}", "status": "200"}
        )
        == 1
    )


@pytest.mark.flask_only
def test_metrics_use_metric_prometheus_metrics_for_app_factory(make_chassis_app: Any) -> None:
    given = PrometheusMetrics.for_app_factory(registry=CollectorRegistry())
    app = make_chassis_app(spec=SPEC, settings=INSTALLED, use_metric=given)
    assert chassis_metrics.get_metrics(app) is given
    assert given.app is app.app
    assert chassis_metrics.get_registry(app) is given.registry
    with app.test_client() as client:
        client.get("/items/1")
        client.get("/nowhere")
        samples = scrape(client)
    assert not [name for name in samples if name.startswith("flask_")]
    assert {labels["status"] for labels in series(samples, "http_requests_total")} == {
        "200",
        "404",
    }


def test_metrics_use_metric_true_and_false(make_chassis_app: Any) -> None:
    off = make_chassis_app(spec=SPEC, settings=INSTALLED, use_metric=False)
    assert chassis_metrics.get_registry(off) is None
    on = make_chassis_app(spec=SPEC, settings=INSTALLED, use_metric=True)
    assert chassis_metrics.get_registry(on) is not None


def test_metrics_use_metric_of_the_wrong_type_stops_start_up(make_chassis_app: Any) -> None:
    with pytest.raises(chassis.PluginError) as error:
        make_chassis_app(spec=SPEC, settings=INSTALLED, use_metric="yes please")
    message = str(error.value)
    assert "'metrics'" in message
    assert "use_metric" in message and "CollectorRegistry" in message


def test_metrics_plugin_passed_as_a_list_is_named_metrics(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=[chassis_metrics])
    assert app.settings.metrics.path == "/metrics"  # type: ignore[attr-defined]
    assert chassis_metrics.get_registry(app) is not None


def test_metrics_multiprocess_dir_set_too_late_is_a_clear_error(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # prometheus_client chose in-memory values when it was imported, before this variable.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(chassis.PluginError, match="PROMETHEUS_MULTIPROC_DIR was set after"):
        make_chassis_app(spec=SPEC, plugins=PLUGINS)


def test_metrics_multiprocess_dir_missing_is_a_clear_error(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(chassis.PluginError, match="is not a directory"):
        make_chassis_app(spec=SPEC, plugins=PLUGINS)


def test_metrics_no_health_check_in_single_process_mode(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with app.test_client() as client:
        body = client.get("/readyz").json()
    assert "metrics" not in body["checks"]


def test_metrics_gunicorn_helpers_clear_and_mark_dead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from chassis_metrics import gunicorn

    directory = tmp_path / "prom"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn.on_starting(server=None)
    assert directory.is_dir()
    for name in ("counter_11.db", "gauge_livesum_11.db", "gauge_livesum_12.db", "keep.txt"):
        (directory / name).write_bytes(b"")

    class Worker:
        pid = 11

    gunicorn.child_exit(server=None, worker=Worker())
    assert sorted(p.name for p in directory.iterdir()) == [
        "counter_11.db",  # totals of a dead worker stay
        "gauge_livesum_12.db",
        "keep.txt",
    ]
    assert gunicorn.clear_multiprocess_dir() == 2
    assert [p.name for p in directory.iterdir()] == ["keep.txt"]


def test_flask_exporter_under_async_app_says_what_to_use(make_chassis_app: Any) -> None:
    """prometheus-flask-exporter needs Flask: under chassis.AsyncApp, a clear error naming
    the registry to use instead, at the call or at start-up."""
    app = make_chassis_app(spec=None, plugins=PLUGINS, app_class=chassis.AsyncApp)
    with pytest.raises(chassis_metrics.MetricsError, match="get_registry"):
        chassis_metrics.get_metrics(app)
    given = PrometheusMetrics.for_app_factory(registry=CollectorRegistry())
    with pytest.raises(chassis.PluginError, match="CollectorRegistry"):
        make_chassis_app(
            spec=SPEC, settings=INSTALLED, use_metric=given, app_class=chassis.AsyncApp
        )
