"""Counters on the metrics plugin's registry, when it is active.

Labels are bounded: ``method`` and ``route`` come from the spec's limited operations (known
when the API is added), ``outcome`` is one of four words. prometheus_client is imported only
when the metrics plugin hands out a registry.
"""

from __future__ import annotations

from typing import Any

import chassis

OUTCOMES = ("allowed", "refused", "unchecked", "unavailable")
"""allowed, refused (429), unchecked (storage down, served: fail open), unavailable (storage
down, refused with 503: fail closed)."""


class RateLimitMetrics:
    """Counters of one app; every method is a no-op without the metrics plugin."""

    def __init__(self) -> None:
        self.active = False
        self._requests: Any = None
        self._errors: Any = None
        self._children: dict[tuple[str, str, str], Any] = {}

    def bind(self, app: Any) -> None:
        self.active = chassis.register_metrics(app, self._register) is not None

    def _register(self, registry: Any) -> bool:
        from prometheus_client import Counter

        self._requests = Counter(
            "chassis_ratelimit_requests",
            "Requests to rate-limited operations, by method, route template and outcome "
            "(allowed, refused: 429, unchecked: storage down and served, unavailable: storage "
            "down and refused with 503).",
            ("method", "route", "outcome"),
            registry=registry,
        )
        self._errors = Counter(
            "chassis_ratelimit_storage_errors",
            "Failed calls to the rate-limit storage (Redis).",
            registry=registry,
        )
        return True

    def request(self, method: str, route: str, outcome: str) -> None:
        if not self.active:
            return
        key = (method, route, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(method, route, outcome)
        child.inc()

    def storage_error(self) -> None:
        if self.active:
            self._errors.inc()
