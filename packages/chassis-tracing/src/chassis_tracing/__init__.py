"""chassis-tracing: OpenTelemetry tracing for chassis services (plugin ``tracing``).

A server span per request made at the ASGI level (Connexion's own 400/401/403/404/405 and
every 500 included), named ``METHOD /route/{template}`` with the HTTP semantic-convention
attributes; W3C trace context and baggage continued from the caller and passed on to outgoing
calls; log records as span events, and ``trace_id``/``span_id`` in every log line and error
body; a tracer provider built from settings when the application brings none.

This module is the plugin's entry point: it stays light, OpenTelemetry is imported when the
plugin configures an app.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import chassis
from chassis import get_context

from ._settings import TracingSettings

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from ._logs import SpanEventHandler
    from ._middleware import TracingMiddleware
    from ._runtime import TracingRuntime

__all__ = [
    "SpanEventHandler",
    "TracingMiddleware",
    "TracingRuntime",
    "TracingSettings",
    "force_flush",
    "get_tracer",
    "httpx_async_request_hook",
    "httpx_request_hook",
    "inject_headers",
    "runtime",
]

chassis_plugin_name = "tracing"
"""The plugin's name when the module is passed to ``App(plugins=[chassis_tracing])``."""


# -- hooks ----------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[TracingSettings]:
    return TracingSettings


@chassis.hookimpl
def configure_app(
    app: chassis.BaseApp, settings: chassis.Settings, plugin: chassis.PluginContext
) -> None:
    from . import _logs
    from ._middleware import TracingMiddleware
    from ._runtime import build_runtime

    section: TracingSettings = plugin.settings
    plugin.state = tracing = build_runtime(app, settings, section)
    # Outermost of the observers: the span covers what every other layer does.
    app.add_middleware(TracingMiddleware, slot="observe", order=0, runtime=tracing)
    _logs.install(section.log_level)
    if section.export_logs:
        from . import _log_export

        _log_export.install(app, settings, section)


@chassis.hookimpl
def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]]:
    tracing: TracingRuntime = plugin.state
    return {"tracing": tracing.health()}


@chassis.hookimpl
def startup(plugin: chassis.PluginContext) -> None:
    """With ``export_logs``: log records go to the collector while the app runs."""
    if plugin.settings.export_logs:
        from . import _log_export

        _log_export.start(plugin.app)


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    """Flush buffered spans (and log records) when the server stops."""
    tracing: TracingRuntime = plugin.state
    await tracing.aflush()
    if plugin.settings.export_logs:
        from . import _log_export

        await _log_export.shutdown(plugin.app)


@chassis.hookimpl
def outgoing_headers(headers: dict[str, str]) -> None:
    from opentelemetry import propagate

    propagate.inject(headers)


# -- public API -----------------------------------------------------------------------------


def runtime(app: chassis.BaseApp) -> TracingRuntime | None:
    """The tracing of ``app`` (tracer, provider, exporter, counters), or ``None`` when the
    plugin is not active in it."""
    find = getattr(app, "plugin_context", None)
    context = find(__name__) if find is not None else None
    return context.state if context is not None else None


def get_tracer(name: str, version: str | None = None) -> Tracer:
    """A tracer for application code: the current request's app's provider, else the global one.

    Equivalent to ``opentelemetry.trace.get_tracer(name)`` when the plugin's provider is the
    global provider (the usual case); it also finds the right provider when a test builds
    several apps, each with its own (``use_tracer=provider``).

    Example::

        with chassis_tracing.get_tracer(__name__).start_as_current_span("load premises"):
            rows = session.execute(query).all()
    """
    from opentelemetry import trace

    context = get_context()
    app = context.app if context is not None else None
    tracing = runtime(app) if app is not None else None
    if tracing is not None and tracing.provider is not None:
        return tracing.provider.get_tracer(name, version)
    return trace.get_tracer(name, version)


def inject_headers(headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """Headers for a call to another service: ``headers`` plus the request id and the trace
    context (``traceparent``, ``tracestate``, ``baggage``), so the next service continues
    the trace.

    Inside a request this is :func:`chassis.outgoing_headers`; outside one (a background job
    with a span of its own) it adds the current span's trace context.

    Example::

        requests.get(url, headers=chassis_tracing.inject_headers({"Accept": "text/csv"}))
    """
    if get_context() is not None:
        return chassis.outgoing_headers(headers)
    from opentelemetry import propagate

    result = dict(headers or {})
    propagate.inject(result)
    return result


def httpx_request_hook(request: Any) -> None:
    """An httpx ``request`` event hook that adds :func:`inject_headers` to every request.

    Headers the request already has are kept. Example::

        client = httpx.Client(event_hooks={"request": [chassis_tracing.httpx_request_hook]})
    """
    for name, value in inject_headers().items():
        if name not in request.headers:
            request.headers[name] = value


async def httpx_async_request_hook(request: Any) -> None:
    """:func:`httpx_request_hook` for ``httpx.AsyncClient``. Example::

    client = httpx.AsyncClient(
        event_hooks={"request": [chassis_tracing.httpx_async_request_hook]}
    )
    """
    httpx_request_hook(request)


def force_flush(app: chassis.BaseApp, timeout: float = 30.0) -> bool:
    """Export the spans (and, with ``export_logs``, the log records) ``app`` has buffered in
    this process now (tests, scripts, shutdown)."""
    tracing = runtime(app)
    flushed = tracing.force_flush(timeout) if tracing is not None else True
    if tracing is not None and "tracing.log_export" in getattr(app, "extras", {}):
        from . import _log_export

        flushed = _log_export.force_flush(app, timeout) and flushed
    return flushed


def __getattr__(name: str) -> Any:
    # The classes live in modules that import OpenTelemetry: imported on first use.
    if name == "TracingMiddleware":
        from ._middleware import TracingMiddleware

        return TracingMiddleware
    if name == "SpanEventHandler":
        from ._logs import SpanEventHandler

        return SpanEventHandler
    if name == "TracingRuntime":
        from ._runtime import TracingRuntime

        return TracingRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
