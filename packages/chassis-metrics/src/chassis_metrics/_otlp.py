"""Pushing the chassis metrics over OTLP/HTTP (``CHASSIS_METRICS__OTLP=true``).

A daemon thread per process, started by the plugin's ``startup`` hook (so each worker a server
forks starts its own), converts the app's registry (:mod:`._otlp_convert`) every
``otlp_interval`` seconds and sends it with the OpenTelemetry SDK's OTLP/HTTP metric exporter;
``shutdown`` pushes once more, unless the collector was failing. Pushes are cumulative, like a
scrape: a lost push loses nothing but resolution.

Each process is its own OTLP resource (``service.instance.id`` differs), so with several
workers the collector receives one series per worker, which it (or the backend) adds up; in
multiprocess mode this process's own figures are pushed, never the sum of all workers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from chassis import parse_headers, redact_credentials

from ._constants import OTLP_KEY, MetricsError

if TYPE_CHECKING:
    import chassis
    from prometheus_client import CollectorRegistry

    from ._settings import MetricsSettings

logger = logging.getLogger("chassis.metrics")

METRICS_PATH = "/v1/metrics"
OTLP_METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
EXPORTER_LOGGER = "opentelemetry.exporter"


def resolve_destination(
    settings: MetricsSettings, app_settings: chassis.Settings
) -> tuple[str | None, dict[str, str] | None, str]:
    """(endpoint for the exporter, headers, where it goes as shown in logs and health).

    ``otlp_endpoint``, else the tracing plugin's endpoint (the collector the traces go to)
    with its headers, else the exporter's own environment variables and default.
    """
    headers = (
        parse_headers(settings.otlp_headers.get_secret_value()) if settings.otlp_headers else None
    )
    if settings.otlp_endpoint is not None:
        endpoint = _metrics_url(settings.otlp_endpoint)
        return endpoint, headers, redact_credentials(endpoint)
    tracing = getattr(app_settings, "tracing", None)
    traces_endpoint = getattr(tracing, "endpoint", None)
    if traces_endpoint:
        if getattr(tracing, "protocol", "http/protobuf") != "http/protobuf":
            raise MetricsError(
                "CHASSIS_METRICS__OTLP=true pushes OTLP/HTTP, and the tracing plugin sends "
                "spans over gRPC (CHASSIS_TRACING__PROTOCOL=grpc): set "
                "CHASSIS_METRICS__OTLP_ENDPOINT to the collector's OTLP/HTTP endpoint"
            )
        parts = urlsplit(traces_endpoint)
        path = parts.path.rstrip("/")
        if path.endswith("/v1/traces"):
            path = path[: -len("/v1/traces")]
        elif path:
            raise MetricsError(
                f"CHASSIS_TRACING__ENDPOINT ends in {parts.path!r}, not /v1/traces, so the "
                "metrics URL cannot be derived from it: set CHASSIS_METRICS__OTLP_ENDPOINT"
            )
        endpoint = urlunsplit(parts._replace(path=path + METRICS_PATH))
        if headers is None:
            secret = getattr(tracing, "headers", None)
            headers = parse_headers(secret.get_secret_value()) if secret is not None else None
        return endpoint, headers, redact_credentials(endpoint)
    shown = os.environ.get(OTLP_METRICS_ENDPOINT) or (
        os.environ.get(OTLP_ENDPOINT, "").rstrip("/") + METRICS_PATH
        if os.environ.get(OTLP_ENDPOINT)
        else "http://localhost:4318" + METRICS_PATH
    )
    return None, headers, redact_credentials(shown)


def _metrics_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=METRICS_PATH))
    return endpoint


class _LastError(logging.Handler):
    """Keeps what the exporter logs about a failed push made in the pushing thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread: int | None = None
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            try:
                self.message = record.getMessage()
            except Exception:  # a broken log call must not break the push
                self.message = str(record.msg)


class OtlpPusher:
    """Pushes one registry to one OTLP/HTTP endpoint, in this process."""

    def __init__(
        self,
        registry: CollectorRegistry,
        settings: MetricsSettings,
        app_settings: chassis.Settings,
    ) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        except ImportError:
            raise MetricsError(
                "CHASSIS_METRICS__OTLP=true needs the OpenTelemetry SDK and its OTLP/HTTP "
                "exporter: pip install 'chassis-metrics[otlp]'"
            ) from None
        from importlib.metadata import version

        endpoint, headers, self.destination = resolve_destination(settings, app_settings)
        timeout = settings.otlp_timeout
        self.interval = settings.otlp_interval
        self.timeout = timeout
        self.registry = registry

        def make_exporter() -> Any:
            return OTLPMetricExporter(endpoint=endpoint, headers=headers, timeout=timeout)

        self._make_exporter = make_exporter
        self._resource_attributes = {
            "service.name": app_settings.service_name,
            "service.version": app_settings.service_version,
        }
        self._make_resource = Resource.create
        self.scope = InstrumentationScope("chassis_metrics", version("chassis-metrics"))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._exporter: Any = None
        self._resource: Any = None
        self._started_ns = 0
        self.pushes = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_push: float | None = None
        self.failing = False

    def _for_this_process(self) -> None:
        """Exporter, resource and start time of this process (a forked worker makes its own:
        an inherited HTTP session would share sockets with the parent)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        self._pid = pid
        self._exporter = self._make_exporter()
        self._resource = self._make_resource(
            {**self._resource_attributes, "service.instance.id": str(uuid.uuid4())}
        )
        self._started_ns = time.time_ns()
        self.pushes = self.failures = 0
        self.last_error = None
        self.last_push = None
        self.failing = False

    def start(self) -> None:
        """Start pushing every ``interval`` seconds in this process (once)."""
        with self._lock:
            self._for_this_process()
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="chassis-metrics-otlp", daemon=True
            )
            self._thread.start()
        logger.info("metrics: pushing over OTLP to %s every %g s", self.destination, self.interval)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def push(self) -> bool:
        """Convert and send the registry now; ``False`` when the collector did not take it."""
        from opentelemetry.sdk.metrics.export import MetricExportResult

        from ._otlp_convert import to_metrics_data

        with self._lock:
            self._for_this_process()
            data = to_metrics_data(self.registry, self._resource, self.scope, self._started_ns)
            capture = _LastError()
            capture.thread = threading.get_ident()
            exporter_logger = logging.getLogger(EXPORTER_LOGGER)
            exporter_logger.addHandler(capture)
            try:
                result = self._exporter.export(data, timeout_millis=self.timeout * 1000)
            except Exception as error:  # the exporter's own bugs must not kill the thread
                result = None
                capture.message = f"{type(error).__name__}: {error}"
            finally:
                exporter_logger.removeHandler(capture)
            ok = result is MetricExportResult.SUCCESS
            self.last_push = time.time()
            if ok:
                self.pushes += 1
                self.failing = False
                return True
            self.failures += 1
            self.failing = True
            self.last_error = capture.message or f"the collector at {self.destination} refused"
            return False

    def stop(self) -> None:
        """Stop the thread and push a last time (skipped while the collector is failing)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(self.timeout + 1)
            self._thread = None
        if self._pid == os.getpid() and not self.failing:
            self.push()
        exporter = self._exporter
        if exporter is not None and self._pid == os.getpid():
            exporter.shutdown()
            self._pid = None

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "endpoint": self.destination,
            "pushes": self.pushes,
            "failures": self.failures,
            "failing": self.failing,
        }
        if self.last_error is not None:
            info["last_error"] = self.last_error[:500]
        return info


# -- what the plugin's hooks call ----------------------------------------------------------


def install(app: chassis.BaseApp, registry: CollectorRegistry, settings: MetricsSettings) -> None:
    """At ``configure_app``: check the set-up now (a missing extra, an endpoint that cannot
    be derived stop start-up with the setting's name); push from ``startup`` on."""
    app.extras[OTLP_KEY] = OtlpPusher(registry, settings, app.settings)


def _pusher(app: Any) -> OtlpPusher | None:
    extras: dict[str, Any] | None = getattr(app, "extras", None)
    found: OtlpPusher | None = extras.get(OTLP_KEY) if extras is not None else None
    return found


def start(app: chassis.BaseApp) -> None:
    pusher = _pusher(app)
    if pusher is not None:
        pusher.start()


async def stop(app: chassis.BaseApp) -> None:
    """The last push, bounded: a slow collector must not hold up the server's exit."""
    import asyncio

    pusher = _pusher(app)
    if pusher is None:
        return
    limit = pusher.timeout + 2
    try:
        await asyncio.wait_for(asyncio.to_thread(pusher.stop), limit)
    except asyncio.TimeoutError:
        logger.warning("metrics: the last OTLP push did not finish in %g s", limit)


def push_now(app: Any) -> bool:
    pusher = _pusher(app)
    return pusher is not None and pusher.push()


def health(app: chassis.BaseApp) -> dict[str, dict[str, Any]]:
    """The ``metrics_otlp`` check: always up (a collector that is down must not take the
    service out of rotation), with the push's figures."""
    pusher = _pusher(app)
    return {"metrics_otlp": {"status": "up", **pusher.health()}} if pusher is not None else {}
