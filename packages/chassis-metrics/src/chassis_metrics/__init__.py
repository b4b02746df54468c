"""chassis-metrics: Prometheus metrics for chassis services (plugin ``metrics``).

Every response is counted with its real status, by method and route template, at the ASGI
level inside Connexion's stack; ``/metrics`` serves them in the Prometheus text format. See the
package README for every setting and metric.

Application code reaches prometheus-flask-exporter's API through :func:`get_metrics`; other
plugins register their own metrics on the app's registry through :func:`get_registry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import chassis

from ._constants import DETACHED_KEY, OTHER_METHOD, UNMATCHED_ROUTE, MetricsError
from ._multiproc import forget_empty
from ._settings import DEFAULT_BUCKETS, MetricsSettings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_flask_exporter import PrometheusMetrics

    from ._state import MetricsState

__all__ = [
    "DEFAULT_BUCKETS",
    "OTHER_METHOD",
    "UNMATCHED_ROUTE",
    "MetricsError",
    "MetricsSettings",
    "get_metrics",
    "get_registry",
    "push_metrics",
]

# Before this package imports prometheus_client (none of the modules above does): an empty
# PROMETHEUS_MULTIPROC_DIR means unset, and prometheus_client only asks whether it is present.
forget_empty()

chassis_plugin_name = "metrics"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_metrics])``."""


def _app_state(app: Any) -> MetricsState | None:
    """The app's metrics state, made on first use (other plugins may ask for the registry
    before this plugin's ``configure_app`` ran); ``None`` when the plugin is not active."""
    find = getattr(app, "plugin_context", None)
    context = find(__name__) if find is not None else None
    if context is None:
        return None
    if context.state is None:
        from ._state import MetricsState

        context.state = MetricsState(app, context.settings)
    state: MetricsState = context.state
    return state


def get_registry(app: Any) -> CollectorRegistry | None:
    """The ``prometheus_client`` registry whose metrics ``app`` exposes, or ``None`` when the
    metrics plugin is not active for ``app``.

    Other plugins and application code register their own metrics on it::

        registry = chassis_metrics.get_registry(app)
        if registry is not None:
            hits = prometheus_client.Counter(
                "myplugin_cache_hits_total", "Cache hits.", registry=registry
            )

    A plugin that must not depend on chassis-metrics uses :func:`chassis.register_metrics`
    instead, which reaches the same registry through a hook. Safe to call from any hook,
    before or after the metrics plugin's own ``configure_app``. One registry per app (in
    multiprocess mode the figures go through ``PROMETHEUS_MULTIPROC_DIR`` instead, so metric
    names must still be unique per app).
    """
    state = _app_state(app)
    return state.registry if state is not None else None


def get_metrics(app: Any) -> PrometheusMetrics:
    """prometheus-flask-exporter's ``PrometheusMetrics`` for ``app``'s Flask application.

    Its decorators (``@metrics.counter``, ``@metrics.histogram``, ``@metrics.summary``,
    ``@metrics.gauge``) and ``metrics.info(...)`` register on the same registry that
    ``/metrics`` exposes. Its own per-request metrics are off (this plugin counts requests,
    with the statuses Flask never sees) and it serves no endpoint. It is the object given as
    ``App(use_metric=PrometheusMetrics.for_app_factory(...))`` when there is one.

    When the metrics plugin is not active for ``app``, a ``PrometheusMetrics`` on a registry
    that nothing exposes is returned, so decorated views work whether metrics are on or off.
    """
    if getattr(app, "flask_app", "flask") is None:
        raise MetricsError(
            "chassis_metrics.get_metrics(app) gives prometheus-flask-exporter's decorators, "
            "which need Flask: under chassis.AsyncApp register prometheus_client metrics on "
            "chassis_metrics.get_registry(app) (or chassis.register_metrics) instead"
        )
    state = _app_state(app)
    if state is not None:
        return state.flask_metrics
    extras: dict[str, Any] | None = getattr(app, "extras", None)
    detached: PrometheusMetrics | None = extras.get(DETACHED_KEY) if extras else None
    if detached is None:
        from prometheus_client import CollectorRegistry
        from prometheus_flask_exporter import PrometheusMetrics

        flask_app = getattr(app, "app", app)
        detached = PrometheusMetrics(
            flask_app, path=None, export_defaults=False, registry=CollectorRegistry()
        )
        if extras is not None:
            extras[DETACHED_KEY] = detached
    return detached


def push_metrics(app: Any) -> bool:
    """Push ``app``'s metrics over OTLP now (``CHASSIS_METRICS__OTLP=true``), in this process:
    for tests, scripts and batch jobs that end before the next scheduled push. ``False`` when
    the push is not configured or the collector did not take it (its health entry says why).
    """
    from ._otlp import push_now

    return push_now(app)


# -- hooks ------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[MetricsSettings]:
    return MetricsSettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp) -> None:
    from ._exemplars import exemplar_source
    from ._middleware import MetricsMiddleware

    state = _app_state(app)
    assert state is not None  # the plugin is registered, so it is active
    exemplar = exemplar_source(state.settings, state.multiprocess_dir)
    # Inside tracing (order 0), outside every layer that can change the status or body.
    app.add_middleware(MetricsMiddleware, slot="observe", order=10, state=state, exemplar=exemplar)
    if state.settings.port is None:
        # With CHASSIS_MANAGEMENT__PORT set, /metrics is served on that port only.
        app.management_paths.append(state.settings.path)
    if state.settings.otlp:
        from ._otlp import install

        install(app, state.registry, state.settings)


@chassis.hookimpl
def metrics_registry(app: chassis.BaseApp) -> CollectorRegistry | None:
    """The registry ``/metrics`` exposes, for ``chassis.register_metrics``."""
    return get_registry(app)


@chassis.hookimpl(trylast=True)
def register_error_handlers(app: chassis.BaseApp) -> None:
    from ._errors import wrap_catch_all

    state = _app_state(app)
    if state is not None:
        wrap_catch_all(app, state.metrics)


@chassis.hookimpl
def startup(plugin: chassis.PluginContext) -> None:
    """Serve the metrics port, when one is set (in each worker: one binds it)."""
    state: MetricsState = plugin.state
    if state.port_server is not None:
        state.port_server.start(again=True)
    if state.settings.otlp:
        from ._otlp import start

        start(plugin.app)


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    state: MetricsState = plugin.state
    if state.port_server is not None:
        import asyncio

        # Stopping waits for the server thread's poll loop: not on the event loop.
        await asyncio.to_thread(state.port_server.stop)
    if state.settings.otlp:
        from ._otlp import stop

        await stop(plugin.app)


@chassis.hookimpl
def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]] | None:
    """In multiprocess mode: whether ``PROMETHEUS_MULTIPROC_DIR`` is still writable; with
    the OTLP push, ``metrics_otlp``."""
    state: MetricsState = plugin.state
    pushed: dict[str, dict[str, Any]] = {}
    if state.settings.otlp:
        from ._otlp import health

        pushed = health(plugin.app)
    path = state.multiprocess_dir
    if path is None:
        return pushed or None
    import os

    writable = os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)
    detail: dict[str, Any] = {
        "status": "up" if writable else "down",
        "multiprocess_dir": path,
        "writable": writable,
    }
    if state.port_server is not None:
        detail["port"] = state.settings.port
    return {"metrics": detail, **pushed}
