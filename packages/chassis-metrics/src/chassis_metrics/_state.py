"""One :class:`MetricsState` per App: its registry, its request metrics, its exposition."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import chassis
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    values,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from ._constants import (
    KNOWN_METHODS,
    METHOD_LABELS,
    OTHER_METHOD,
    UNMATCHED_ROUTE,
    MetricsError,
)
from ._multiproc import MULTIPROC_VARIABLE, multiprocess_dir
from ._settings import MetricsSettings

if TYPE_CHECKING:
    from prometheus_flask_exporter import PrometheusMetrics

    from ._exposition import PortServer

logger = logging.getLogger("chassis.metrics")


def _check_multiprocess(path: str) -> None:
    if not Path(path).is_dir():
        raise MetricsError(
            f"{MULTIPROC_VARIABLE}={path!r} is not a directory: create it (empty) before the "
            "workers start, or unset it for single-process metrics"
        )
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise MetricsError(
            f"{MULTIPROC_VARIABLE} was set after prometheus_client had been imported, so this "
            "process keeps its metrics in memory and the workers' figures cannot be added up: "
            "set it in the environment before the server starts"
        )


def _keep_values_in_memory() -> None:
    """Single-process mode: make sure the metrics made from now on keep their values in memory.

    ``prometheus_client`` picks file-backed values when ``PROMETHEUS_MULTIPROC_DIR`` is
    *present* as it is imported. Imported before ``chassis_metrics`` (which takes an empty
    value out of the environment first) while the variable was set empty, it would write every
    figure to a ``.db`` file in the working directory (or fail on a read-only one): this
    process's metrics made from now on are kept in memory instead.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return
    values.ValueClass = values.MutexValue
    logger.warning(
        "prometheus_client was imported while %s was set but empty (or has been unset since): "
        "metrics made before chassis-metrics was imported keep writing .db files to the "
        "working directory; this app's metrics are kept in memory. Unset the variable rather "
        "than setting it empty, or import prometheus_client after chassis_metrics",
        MULTIPROC_VARIABLE,
    )


class RequestMetrics:
    """The request metrics of one app and the label children they need, made once each."""

    def __init__(
        self, registry: CollectorRegistry, namespace: str, buckets: Iterable[float]
    ) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            namespace=namespace,
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving an HTTP request to the end of its response, in seconds, by "
            "method, route template and status code.",
            ("method", "route", "status"),
            namespace=namespace,
            buckets=tuple(buckets),
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served, by method.",
            ("method",),
            namespace=namespace,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.exceptions = Counter(
            "http_request_exceptions",
            "HTTP requests whose handling raised an exception that no error handler "
            "claimed (answered 500), by method, route template and exception type.",
            ("method", "route", "exception"),
            namespace=namespace,
            registry=registry,
        )
        # Children are cached: a request costs two dict look-ups, not labels() calls.
        self.in_progress_by_method = {
            method: self.in_progress.labels(method) for method in (*KNOWN_METHODS, OTHER_METHOD)
        }
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The (counter, histogram) children for one label set, made on first use."""
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            code = str(status)
            found = (
                self.requests.labels(method, route, code),
                self.duration.labels(method, route, code),
            )
            self._children[key] = found
        return found

    def count_exception(self, method: str, route: str | None, exception: BaseException) -> None:
        self.exceptions.labels(
            method_label(method), route or UNMATCHED_ROUTE, type(exception).__name__
        ).inc()


def method_label(method: str) -> str:
    """The ``method`` label for a request method: standard methods as they are, else
    ``other``."""
    return METHOD_LABELS.get(method, OTHER_METHOD)


class MetricsState:
    """Everything the plugin keeps for one :class:`chassis.App`."""

    def __init__(self, app: chassis.BaseApp, settings: MetricsSettings) -> None:
        self.app = app
        self.settings = settings
        self.multiprocess_dir = multiprocess_dir()
        if self.multiprocess_dir is not None:
            _check_multiprocess(self.multiprocess_dir)
        else:
            _keep_values_in_memory()
        self._flask_metrics: PrometheusMetrics | None = None
        self.port_server: PortServer | None = None
        self.registry = self._registry_from(app.extras.get("metrics"))
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            # Every process writes its figures to files; a scrape adds them all up.
            self.exposition: CollectorRegistry = CollectorRegistry()
            MultiProcessCollector(self.exposition, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            self.exposition = self.registry
            if settings.process_metrics and self.registry is not _default_registry():
                ProcessCollector(registry=self.registry)
                PlatformCollector(registry=self.registry)
                GCCollector(registry=self.registry)
        self.metrics = RequestMetrics(self.registry, settings.namespace, settings.buckets)
        self.info = self._info_metric()
        if settings.port is not None:
            from ._exposition import PortServer

            self.port_server = PortServer(
                self.exposition, settings.host, settings.port, self.multiprocess_dir
            )

    def _registry_from(self, given: Any) -> CollectorRegistry:
        """``App(use_metric=...)``: a registry, a PrometheusMetrics, or nothing."""
        if given is None:
            return CollectorRegistry()
        if isinstance(given, CollectorRegistry):
            return given
        from prometheus_flask_exporter import PrometheusMetrics

        if isinstance(given, PrometheusMetrics):
            self._adopt(given)
            registry: CollectorRegistry = given.registry
            return registry
        raise MetricsError(
            "App(use_metric=...) takes True, False, a prometheus_client CollectorRegistry or a "
            f"prometheus_flask_exporter PrometheusMetrics, not {type(given).__name__}"
        )

    def _adopt(self, metrics: PrometheusMetrics) -> None:
        flask_app = self.app.flask_app
        if flask_app is None:
            raise MetricsError(
                "AsyncApp(use_metric=...) takes True, False or a prometheus_client "
                "CollectorRegistry: a prometheus_flask_exporter PrometheusMetrics needs Flask"
            )
        if metrics.app is None:
            # Made with PrometheusMetrics.for_app_factory(): bind it without init_app, which
            # would add Flask-level request metrics that count again what this plugin counts.
            metrics.app = flask_app
        elif metrics.app is flask_app and getattr(metrics, "_export_defaults", False):
            logger.warning(
                "the PrometheusMetrics given to App(use_metric=...) exports its own per-request "
                "metrics (flask_http_request_*): they miss Connexion's 401s and record its 404s "
                "as 500; make it with export_defaults=False, or pass "
                "PrometheusMetrics.for_app_factory() and let chassis-metrics count requests"
            )
        self._flask_metrics = metrics

    def _info_metric(self) -> Gauge:
        settings = self.app.settings
        plugins = ",".join(info.name for info in self.app.active_plugins)
        # A gauge named *_info rather than an Info: Info does not work in multiprocess mode.
        info = Gauge(
            "chassis_service_info",
            "The service: name and version, chassis version and active plugins; always 1.",
            ("service", "version", "chassis_version", "plugins"),
            registry=self.registry,
            multiprocess_mode="max",
        )
        info.labels(
            settings.service_name, settings.service_version, chassis.__version__, plugins
        ).set(1)
        return info

    @property
    def flask_metrics(self) -> PrometheusMetrics:
        """prometheus-flask-exporter's object for the Flask app, made on first use."""
        if self._flask_metrics is None:
            from prometheus_flask_exporter import PrometheusMetrics

            self._flask_metrics = PrometheusMetrics(
                self.app.flask_app,
                path=None,
                export_defaults=False,
                registry=self.registry,
                excluded_paths=None,
            )
        return self._flask_metrics


def _default_registry() -> CollectorRegistry:
    from prometheus_client import REGISTRY

    return REGISTRY
