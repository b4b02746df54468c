"""Counters on the metrics plugin's registry, when it is active (no Prometheus import without
it). Labels are bounded: the route template (from the spec) and a fixed set of outcomes."""

from __future__ import annotations

from typing import Any

import chassis

OUTCOMES = (
    "executed",  # the key was new: the handler ran
    "replayed",  # the stored response was sent again
    "in_flight",  # 409: the first request with the key still runs
    "mismatch",  # 422: the key was used for another request
    "missing_key",  # 400: the operation requires a key
    "invalid_key",  # 400: the header's value is not a key
    "store_unavailable",  # 503: the store failed and on_store_error is reject
    "unprotected",  # served without idempotency: the store failed, on_store_error is proceed
)

NOT_STORED = (
    "server_error",  # a 5xx: a retry runs the handler again
    "too_large",  # the body exceeds max_response_bytes
    "incomplete",  # the response never finished (the client left, an exception after start)
    "store_error",  # the store failed when the response completed
)


class IdempotencyMetrics:
    """Counters of one app; every method is a no-op without the metrics plugin."""

    def __init__(self) -> None:
        self.active = False
        self._requests: Any = None
        self._not_stored: Any = None
        self._errors: Any = None
        self._children: dict[tuple[str, str, str], Any] = {}

    def bind(self, app: Any) -> None:
        self.active = chassis.register_metrics(app, self._register) is not None

    def _register(self, registry: Any) -> bool:
        from prometheus_client import Counter

        self._requests = Counter(
            "chassis_idempotency_requests",
            "Requests carrying (or required to carry) an Idempotency-Key, by route template "
            "and outcome: " + ", ".join(OUTCOMES) + ".",
            ("route", "outcome"),
            registry=registry,
        )
        self._not_stored = Counter(
            "chassis_idempotency_not_stored",
            "Responses of executed requests that were not stored (a retry runs the handler "
            "again), by route template and reason: " + ", ".join(NOT_STORED) + ".",
            ("route", "reason"),
            registry=registry,
        )
        self._errors = Counter(
            "chassis_idempotency_store_errors",
            "Failed calls to the store (Redis).",
            registry=registry,
        )
        return True

    def _child(self, metric: Any, kind: str, route: str, label: str) -> Any:
        key = (kind, route, label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(route, label)
        return child

    def request(self, route: str, outcome: str) -> None:
        if self.active:
            self._child(self._requests, "r", route, outcome).inc()

    def not_stored(self, route: str, reason: str) -> None:
        if self.active:
            self._child(self._not_stored, "n", route, reason).inc()

    def store_error(self) -> None:
        if self.active:
            self._errors.inc()
