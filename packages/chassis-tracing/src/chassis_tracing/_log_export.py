"""Log records over OTLP (``CHASSIS_TRACING__EXPORT_LOGS=true``), beside the span events.

A handler on the root logger turns each record into an OpenTelemetry log record (the SDK's
``LoggingHandler``): body, severity, logger, code location, exception and the record's extra
fields as attributes, and the trace and span ids of the span current when it was emitted, so a
backend shows a request's logs with its trace. They go through the SDK's batch processor to
the collector the spans go to (or ``logs_endpoint``).

The provider, its batch thread and its exporter (with its HTTP connections) are made in the
process that emits, on its first record, so a worker forked by gunicorn (``--preload``) starts
its own instead of inheriting a dead thread and shared sockets.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from chassis import PluginError, parse_headers, redact_credentials

from ._settings import TracingSettings

if TYPE_CHECKING:
    import chassis

logger = logging.getLogger("chassis.tracing")

LOGS_PATH = "/v1/logs"
EXTRAS_KEY = "tracing.log_export"
MARKER = "chassis_tracing_log_export"
"""Attribute that marks the export handler this plugin put on the root logger."""

# The SDK's and the exporters' own records are not exported: a failing export would log,
# and that record would be exported, and fail, and log.
SKIPPED_PREFIXES = ("opentelemetry", "urllib3", "grpc")


def resolve_endpoint(section: TracingSettings) -> str | None:
    """Where log records go: ``logs_endpoint``, else the spans' endpoint (its logs path),
    else ``None``: the exporter's environment variables and default."""
    grpc = section.protocol == "grpc"
    if section.logs_endpoint is not None:
        endpoint = section.logs_endpoint
        if grpc:
            return endpoint
        parts = urlsplit(endpoint)
        return urlunsplit(parts._replace(path=LOGS_PATH)) if parts.path in ("", "/") else endpoint
    if section.endpoint is None:
        return None
    if grpc:
        return section.endpoint
    parts = urlsplit(section.endpoint)
    path = parts.path.rstrip("/")
    if path.endswith("/v1/traces"):
        path = path[: -len("/v1/traces")]
    elif path:
        raise PluginError(
            f"CHASSIS_TRACING__ENDPOINT ends in {parts.path!r}, not /v1/traces, so the logs "
            "URL cannot be derived from it: set CHASSIS_TRACING__LOGS_ENDPOINT"
        )
    return urlunsplit(parts._replace(path=path + LOGS_PATH))


def _exporter_class(section: TracingSettings) -> Any:
    try:
        if section.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                OTLPLogExporter as GrpcLogExporter,
            )

            exporter: Any = GrpcLogExporter
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            exporter = OTLPLogExporter
        from opentelemetry.sdk._logs import LoggingHandler  # noqa: F401
    except ImportError:
        extra = "grpc" if section.protocol == "grpc" else "sdk"
        raise PluginError(
            "CHASSIS_TRACING__EXPORT_LOGS=true needs the OpenTelemetry SDK and its OTLP "
            f"exporter: pip install 'chassis-tracing[{extra}]'"
        ) from None
    return exporter


class LogExport:
    """One app's log export: its settings, and the provider of the current process."""

    def __init__(self, settings: chassis.Settings, section: TracingSettings) -> None:
        self.section = section
        self.exporter_class = _exporter_class(section)
        self.endpoint = resolve_endpoint(section)
        self.headers = (
            parse_headers(section.headers.get_secret_value()) if section.headers else None
        )
        self.resource_attributes = {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
        }
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.provider: Any = None
        self.handler: logging.Handler | None = None

    @property
    def destination(self) -> str:
        if self.endpoint is not None:
            return redact_credentials(self.endpoint)
        name = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
        shown = os.environ.get(name) or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return redact_credentials(shown or "the OTLP exporter's default endpoint")

    def handler_for_this_process(self) -> logging.Handler:
        pid = os.getpid()
        handler = self.handler
        if handler is not None and self._pid == pid:
            return handler
        with self._lock:
            if self.handler is None or self._pid != pid:
                self.handler = self._build()
                self._pid = pid
            return self.handler

    def _build(self) -> logging.Handler:
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        section = self.section
        exporter_options: dict[str, Any] = {"headers": self.headers, "timeout": section.timeout}
        if self.endpoint is not None:
            exporter_options["endpoint"] = self.endpoint
        if section.protocol == "grpc" and self.endpoint is not None:
            exporter_options["insecure"] = self.endpoint.startswith("http://")
        provider = LoggerProvider(
            resource=Resource.create(self.resource_attributes), shutdown_on_exit=False
        )
        provider.add_log_record_processor(
            BatchLogRecordProcessor(
                self.exporter_class(**exporter_options),
                schedule_delay_millis=section.schedule_delay * 1000,
                max_export_batch_size=min(section.max_export_batch_size, section.max_queue_size),
                export_timeout_millis=section.timeout * 1000,
                max_queue_size=section.max_queue_size,
            )
        )
        self.provider = provider
        with warnings.catch_warnings():
            # Deprecated in favour of opentelemetry-instrumentation-logging's handler, which
            # is not an SDK dependency; the SDK's still translates records for this version.
            warnings.simplefilter("ignore", DeprecationWarning)
            return LoggingHandler(logger_provider=provider)

    def force_flush(self, timeout: float) -> bool:
        provider = self.provider
        if provider is None or self._pid != os.getpid():
            return True
        return bool(provider.force_flush(int(timeout * 1000)))

    def shutdown(self) -> None:
        provider, self.provider = self.provider, None
        if provider is not None and self._pid == os.getpid():
            provider.shutdown()
        self.handler = None
        self._pid = None


class ExportHandler(logging.Handler):
    """On the root logger: hands each record at or above its level to the process's SDK
    handler, outside the SDK's and its exporters' own loggers."""

    def __init__(self, export: LogExport, level: int) -> None:
        super().__init__(level)
        self.export = export
        setattr(self, MARKER, True)

    def handle(self, record: logging.LogRecord) -> bool:
        # No lock of our own: the SDK's handler and batch queue are thread-safe.
        if record.name.startswith(SKIPPED_PREFIXES):
            return False
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.export.handler_for_this_process().emit(record)
        except Exception:
            self.handleError(record)


def install(app: chassis.BaseApp, settings: chassis.Settings, section: TracingSettings) -> None:
    """At ``configure_app``: check the set-up now (a missing extra, an endpoint that cannot be
    derived stop start-up naming the setting); export from ``startup`` on."""
    app.extras[EXTRAS_KEY] = LogExport(settings, section)


def start(app: Any) -> None:
    """Put the export handler on the root logger while the app runs (replacing one that
    another App of this process put there)."""
    export = _export(app)
    if export is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, MARKER, False):
            root.removeHandler(handler)
    root.addHandler(ExportHandler(export, logging.getLevelName(export.section.logs_level)))
    logger.info(
        "tracing: exporting log records from %s over OTLP to %s",
        export.section.logs_level,
        export.destination,
    )


def _export(app: Any) -> LogExport | None:
    extras: dict[str, Any] | None = getattr(app, "extras", None)
    found: LogExport | None = extras.get(EXTRAS_KEY) if extras is not None else None
    return found


def force_flush(app: Any, timeout: float) -> bool:
    export = _export(app)
    return export.force_flush(timeout) if export is not None else True


async def shutdown(app: Any, timeout: float = 5.0) -> None:
    """Flush and stop the export, bounded: a dead collector must not hold up the exit."""
    import asyncio

    export = _export(app)
    if export is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, ExportHandler) and handler.export is export:
            root.removeHandler(handler)
    try:
        await asyncio.wait_for(asyncio.to_thread(export.shutdown), timeout)
    except asyncio.TimeoutError:
        logger.warning("tracing: log records not flushed after %g s; shutting down anyway", timeout)
