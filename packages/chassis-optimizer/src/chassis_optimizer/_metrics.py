"""Cache and compression counters on the metrics plugin's registry, when it is active.

prometheus_client is imported only when the metrics plugin hands out a registry, so the
optimizer works (and imports nothing of Prometheus) without it.
"""

from __future__ import annotations

from typing import Any

import chassis


class OptimizerMetrics:
    """Counters of one app; every method is a no-op without the metrics plugin."""

    def __init__(self) -> None:
        self.active = False
        self._hits: Any = None
        self._misses: Any = None
        self._coalesced: Any = None
        self._evictions: Any = None
        self._errors: Any = None
        self._compressed: Any = None
        self._children: dict[tuple[str, str], Any] = {}

    def bind(self, app: Any) -> None:
        """Register the counters on the registry of ``app``'s metrics plugin, if any."""
        self.active = chassis.register_metrics(app, self._register) is not None

    def _register(self, registry: Any) -> bool:
        from prometheus_client import Counter

        self._hits = Counter(
            "chassis_optimizer_cache_hits",
            "Requests answered from the response cache, by route template.",
            ("route",),
            registry=registry,
        )
        self._misses = Counter(
            "chassis_optimizer_cache_misses",
            "Requests to cached routes that ran the view, by route template.",
            ("route",),
            registry=registry,
        )
        self._coalesced = Counter(
            "chassis_optimizer_cache_coalesced",
            "Misses answered with the entry a concurrent request filled (also counted as "
            "hits), by route template.",
            ("route",),
            registry=registry,
        )
        self._evictions = Counter(
            "chassis_optimizer_cache_evictions",
            "Unexpired entries the in-memory cache dropped to stay within its bounds.",
            registry=registry,
        )
        self._errors = Counter(
            "chassis_optimizer_cache_errors",
            "Failed calls to the cache backend (Redis), each answered without the cache.",
            registry=registry,
        )
        self._compressed = Counter(
            "chassis_optimizer_compressed_responses",
            "Responses compressed, by content coding.",
            ("encoding",),
            registry=registry,
        )
        return True

    def _child(self, metric: Any, kind: str, label: str) -> Any:
        key = (kind, label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(label)
        return child

    def hit(self, route: str) -> None:
        if self.active:
            self._child(self._hits, "hit", route).inc()

    def miss(self, route: str) -> None:
        if self.active:
            self._child(self._misses, "miss", route).inc()

    def coalesced(self, route: str) -> None:
        if self.active:
            self._child(self._coalesced, "coalesced", route).inc()

    def evicted(self, count: int) -> None:
        if self.active:
            self._evictions.inc(count)

    def error(self) -> None:
        if self.active:
            self._errors.inc()

    def compressed(self, encoding: str) -> None:
        if self.active:
            self._child(self._compressed, "enc", encoding).inc()
