"""One app's tracing: which tracer it uses, where spans go, what is excluded, its health."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from chassis import PathPatterns, PluginError, parse_headers, probe_paths, redact_credentials
from opentelemetry import trace

from ._settings import TracingSettings

if TYPE_CHECKING:
    from chassis import App, Settings

    from ._export import ExportStats, ProcessLocalBatchProcessor

logger = logging.getLogger("chassis.tracing")

TRACER_NAME = "chassis_tracing"
try:
    __version__ = version("chassis-tracing")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"

OWNED_MARKER = "_chassis_tracing_owned"
"""Set on tracer providers this plugin built, so a later app does not mistake one for the
application's own global provider."""

OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


class TracingRuntime:
    """The tracing of one :class:`chassis.App` (``chassis_tracing.runtime(app)``).

    :ivar tracer: the tracer that makes the server spans.
    :ivar provider: the tracer provider behind it, when known.
    :ivar source: where the provider comes from: ``settings`` (built by this plugin),
        ``use_tracer`` (given to the App), ``global`` (configured by the application) or
        ``no-sdk`` (the SDK is not installed and no provider is configured: spans are not
        recorded, incoming trace context is still passed on).
    :ivar exporter: ``otlp``, ``console``, ``none``, or ``application`` when the provider is not
        the plugin's.
    """

    def __init__(
        self,
        *,
        tracer: trace.Tracer,
        provider: trace.TracerProvider | None,
        source: str,
        exporter: str,
        excluded: PathPatterns,
        endpoint: str | None = None,
        sampling_ratio: float | None = None,
        processor: ProcessLocalBatchProcessor | None = None,
    ) -> None:
        self.tracer = tracer
        self.provider = provider
        self.source = source
        self.exporter = exporter
        self.excluded = excluded
        self.endpoint = endpoint
        self.sampling_ratio = sampling_ratio
        self.processor = processor

    @property
    def stats(self) -> ExportStats | None:
        return self.processor.stats if self.processor is not None else None

    def force_flush(self, timeout: float = 30.0) -> bool:
        """Export the spans buffered in this process now; ``False`` if that failed."""
        flush: Callable[[int], bool] | None = getattr(self.provider, "force_flush", None)
        if flush is None:
            return True
        try:
            return bool(flush(int(timeout * 1000)))
        except Exception:
            logger.warning("tracing: flushing spans failed", exc_info=True)
            return False

    async def aflush(self, timeout: float = 5.0) -> None:
        """:meth:`force_flush` in a thread, for the event loop, waiting ``timeout`` at most.

        Skipped while exports are failing: a dead collector must not hold up shutdown.
        """
        processor = self.processor
        if processor is None or not processor.started or processor.stats.failing():
            return
        loop = asyncio.get_running_loop()
        flushing = loop.run_in_executor(None, self.force_flush, timeout)
        try:
            await asyncio.wait_for(asyncio.shield(flushing), timeout)
        except asyncio.TimeoutError:
            logger.warning("tracing: spans not flushed after %g s; shutting down anyway", timeout)

    def health(self) -> dict[str, Any]:
        """The ``tracing`` entry of the readiness report; always ``up``: a collector that is
        down loses spans but must not take the service out of rotation."""
        info: dict[str, Any] = {"status": "up", "exporter": self.exporter, "source": self.source}
        if self.endpoint is not None:
            info["endpoint"] = self.endpoint
        if self.sampling_ratio is not None:
            info["sampling_ratio"] = self.sampling_ratio
        stats = self.stats
        if stats is not None:
            info.update(
                spans_exported=stats.exported,
                spans_dropped=stats.dropped,
                export_failures=stats.export_failures,
                dropping=stats.dropping(),
            )
            if stats.last_error is not None:
                info["last_error"] = stats.last_error[:500]
        return info


def build_runtime(app: App, settings: Settings, section: TracingSettings) -> TracingRuntime:
    """Find or build the tracer for ``app`` from ``use_tracer=``, the global provider or
    settings, in that order."""
    excluded = PathPatterns(_excluded_paths(settings, section))
    given = app.extras.get("tracer")
    if given is not None:
        return _from_object(given, excluded)

    global_provider = trace.get_tracer_provider()
    if not isinstance(global_provider, trace.ProxyTracerProvider) and not getattr(
        global_provider, OWNED_MARKER, False
    ):
        if section.exporter != "auto" or section.endpoint:
            logger.info(
                "tracing: the application configured a global tracer provider; the "
                "exporter settings of [tracing] are not used"
            )
        return TracingRuntime(
            tracer=global_provider.get_tracer(TRACER_NAME, __version__),
            provider=global_provider,
            source="global",
            exporter="application",
            excluded=excluded,
        )

    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return _proxy_runtime(excluded, "disabled")
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        if section.exporter in ("otlp", "console"):
            raise PluginError(
                f"CHASSIS_TRACING__EXPORTER={section.exporter} needs the OpenTelemetry SDK: "
                "pip install 'chassis-tracing[sdk]'"
            ) from None
        logger.warning(
            "tracing: no tracer provider is configured and opentelemetry-sdk is not "
            "installed, so spans are not recorded (incoming trace context is still passed "
            "on); pip install 'chassis-tracing[sdk]'"
        )
        return _proxy_runtime(excluded, "no-sdk")
    return _from_settings(settings, section, excluded)


def _excluded_paths(settings: Settings, section: TracingSettings) -> list[str]:
    paths = list(section.exclude_paths)
    if section.exclude_probes:
        paths += probe_paths(settings)
        metrics = getattr(settings, "metrics", None)
        paths.append(getattr(metrics, "path", None) or "/metrics")
    return paths


def _proxy_runtime(excluded: PathPatterns, source: str) -> TracingRuntime:
    # The proxy follows a provider that the application sets globally later on.
    return TracingRuntime(
        tracer=trace.get_tracer(TRACER_NAME, __version__),
        provider=None,
        source=source,
        exporter="none",
        excluded=excluded,
    )


def _from_object(given: Any, excluded: PathPatterns) -> TracingRuntime:
    if isinstance(given, trace.TracerProvider):
        return TracingRuntime(
            tracer=given.get_tracer(TRACER_NAME, __version__),
            provider=given,
            source="use_tracer",
            exporter="application",
            excluded=excluded,
        )
    if isinstance(given, trace.Tracer):
        return TracingRuntime(
            tracer=given,
            provider=None,
            source="use_tracer",
            exporter="application",
            excluded=excluded,
        )
    hint = (
        " (an OpenTracing tracer: OpenTracing and Jaeger clients are retired, use OpenTelemetry)"
        if hasattr(given, "start_active_span")
        else ""
    )
    raise PluginError(
        "use_tracer= (app.extras['tracer']) must be True/False, an OpenTelemetry Tracer or "
        f"TracerProvider; got {type(given).__module__}.{type(given).__qualname__}{hint}"
    )


def resolve_exporter(section: TracingSettings) -> str:
    if section.exporter != "auto":
        return section.exporter
    if section.endpoint or os.environ.get(OTLP_TRACES_ENDPOINT) or os.environ.get(OTLP_ENDPOINT):
        return "otlp"
    return "none"


def otlp_endpoint(section: TracingSettings) -> str | None:
    """The URL spans are sent to; ``None``: the exporter's own default or environment."""
    endpoint = section.endpoint
    if endpoint is None or section.protocol == "grpc":
        return endpoint
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/v1/traces"))
    return endpoint


def shown_endpoint(section: TracingSettings) -> str:
    """Where spans go, for logs and health, without credentials in the URL."""
    endpoint = otlp_endpoint(section)
    if endpoint is None:
        traces = os.environ.get(OTLP_TRACES_ENDPOINT)
        base = os.environ.get(OTLP_ENDPOINT)
        default = "http://localhost:4317" if section.protocol == "grpc" else None
        if traces:
            endpoint = traces
        elif base and section.protocol != "grpc":
            endpoint = base.rstrip("/") + "/v1/traces"
        else:
            endpoint = base or default or "http://localhost:4318/v1/traces"
    return redact_credentials(endpoint)


def _exporter_factory(section: TracingSettings) -> Callable[[], Any]:
    """Check now that the exporter can be built; build it later, in each process."""
    kind = resolve_exporter(section)
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return lambda: ConsoleSpanExporter(out=sys.stdout)

    headers = parse_headers(section.headers.get_secret_value()) if section.headers else None
    endpoint = otlp_endpoint(section)
    timeout = section.timeout
    if section.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )
        except ImportError:
            raise PluginError(
                "CHASSIS_TRACING__PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc: "
                "pip install 'chassis-tracing[grpc]'"
            ) from None
        insecure = None if endpoint is None else endpoint.startswith("http://")

        def make_grpc() -> Any:
            return GrpcExporter(
                endpoint=endpoint,
                insecure=insecure,
                headers=headers,
                timeout=timeout,
            )

        return make_grpc
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise PluginError(
            "CHASSIS_TRACING__EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http: "
            "pip install 'chassis-tracing[sdk]'"
        ) from None

    def make_http() -> Any:
        return OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=timeout)

    return make_http


def _from_settings(
    settings: Settings, section: TracingSettings, excluded: PathPatterns
) -> TracingRuntime:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

    from ._export import (
        ExportStats,
        HashOnceResource,
        ProcessLocalBatchProcessor,
        install_capture_filter,
    )

    ratio = section.sampling_ratio
    root = ALWAYS_ON if ratio >= 1.0 else TraceIdRatioBased(ratio)
    resource = Resource.create(
        {"service.name": settings.service_name, "service.version": settings.service_version}
    )
    provider = TracerProvider(sampler=ParentBased(root), resource=HashOnceResource(resource))
    setattr(provider, OWNED_MARKER, True)

    kind = resolve_exporter(section)
    processor = None
    endpoint = None
    if kind != "none":
        factory = _exporter_factory(section)
        destination = "stdout" if kind == "console" else shown_endpoint(section)
        endpoint = None if kind == "console" else destination
        install_capture_filter()
        processor = ProcessLocalBatchProcessor(
            factory,
            ExportStats(destination),
            max_queue_size=section.max_queue_size,
            max_export_batch_size=min(section.max_export_batch_size, section.max_queue_size),
            schedule_delay_millis=section.schedule_delay * 1000,
            export_timeout_millis=section.timeout * 1000,
        )
        provider.add_span_processor(processor)

    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # Make it the global provider too, so that spans opened by application code and
        # instrumented libraries (trace.get_tracer(...)) are recorded as children.
        trace.set_tracer_provider(provider)
    logger.info(
        "tracing: %s, sampling ratio %g%s",
        f"exporting spans to {endpoint or 'stdout'} ({kind})" if kind != "none" else "no export",
        ratio,
        "" if trace.get_tracer_provider() is provider else " (not the global tracer provider)",
    )
    return TracingRuntime(
        tracer=provider.get_tracer(TRACER_NAME, __version__),
        provider=provider,
        source="settings",
        exporter=kind,
        excluded=excluded,
        endpoint=endpoint,
        sampling_ratio=ratio,
        processor=processor,
    )
