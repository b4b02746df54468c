"""Client metrics on the metrics plugin's registry, when it is active.

Labels are bounded: the service (a name from settings), the method (the standard ones, else
``OTHER``), the status class (``2xx``..``5xx``, or ``error`` when no response came) and an
error kind from a fixed list. prometheus_client is imported only when the metrics plugin hands
out a registry.
"""

from __future__ import annotations

from typing import Any

import chassis

from ._breaker import STATE_VALUES

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def method_label(method: str) -> str:
    return method if method in METHODS else "OTHER"


def error_kind(error: BaseException) -> str:
    """``timeout``, ``connect``, ``protocol`` or ``transport``: a bounded label."""
    import httpx

    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect"
    if isinstance(error, httpx.ProtocolError):
        return "protocol"
    return "transport"


class ClientMetrics:
    """The metrics of one app's clients; every method is a no-op without the metrics plugin."""

    def __init__(self) -> None:
        self.active = False
        self._requests: Any = None
        self._duration: Any = None
        self._errors: Any = None
        self._retries: Any = None
        self._refused: Any = None
        self._breaker: Any = None
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def bind(self, app: Any) -> None:
        self.active = chassis.register_metrics(app, self._register) is not None

    def _register(self, registry: Any) -> bool:
        from prometheus_client import Counter, Gauge, Histogram

        self._requests = Counter(
            "chassis_client_requests",
            "Requests sent to downstream services (each attempt), by service, method and "
            "status class ('error': no response).",
            ("service", "method", "status_class"),
            registry=registry,
        )
        self._duration = Histogram(
            "chassis_client_request_duration_seconds",
            "Seconds from sending a request to a downstream service to its response headers "
            "(or its failure), by service, method and status class.",
            ("service", "method", "status_class"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._errors = Counter(
            "chassis_client_errors",
            "Requests to downstream services that got no response, by service, method and "
            "kind (timeout, connect, protocol, transport).",
            ("service", "method", "kind"),
            registry=registry,
        )
        self._retries = Counter(
            "chassis_client_retries",
            "Retries of requests to downstream services, by service and method.",
            ("service", "method"),
            registry=registry,
        )
        self._refused = Counter(
            "chassis_client_refused",
            "Calls refused before any request was sent, by service and reason (breaker: "
            "the circuit breaker is open; deadline: no time was left).",
            ("service", "reason"),
            registry=registry,
        )
        self._breaker = Gauge(
            "chassis_client_breaker_state",
            "Circuit breaker state by service: 0 closed, 1 half-open, 2 open.",
            ("service",),
            registry=registry,
        )
        return True

    def response(self, service: str, method: str, status: int, seconds: float) -> None:
        if not self.active:
            return
        key = (service, method, _STATUS_CLASSES.get(status // 100, "error"))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(*key),
                self._duration.labels(*key),
            )
        children[0].inc()
        children[1].observe(seconds)

    def error(self, service: str, method: str, error: BaseException, seconds: float) -> None:
        if not self.active:
            return
        self.response(service, method, 0, seconds)
        self._errors.labels(service, method, error_kind(error)).inc()

    def retry(self, service: str, method: str) -> None:
        if self.active:
            self._retries.labels(service, method).inc()

    def refused(self, service: str, reason: str) -> None:
        if self.active:
            self._refused.labels(service, reason).inc()

    def breaker(self, service: str, state: str) -> None:
        if self.active:
            self._breaker.labels(service).set(STATE_VALUES[state])


_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
