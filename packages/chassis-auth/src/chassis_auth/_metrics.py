"""Counters on the metrics plugin's registry, when that plugin is active for the app.

Through ``chassis.register_metrics``, so chassis-auth neither depends on chassis-metrics nor
imports ``prometheus_client`` unless the metrics plugin is active (and thus installed).
"""

from __future__ import annotations

from typing import Any, Protocol

import chassis

from ._errors import REASONS

REJECTED_METRIC = "chassis_auth_rejected_total"
JWKS_FETCH_METRIC = "chassis_auth_jwks_fetches_total"


class AuthMetrics(Protocol):
    def rejected(self, reason: str) -> None: ...

    def jwks_fetched(self, ok: bool) -> None: ...


class NoMetrics:
    """Used when the metrics plugin is not active: counts nothing, costs nothing."""

    def rejected(self, reason: str) -> None:
        pass

    def jwks_fetched(self, ok: bool) -> None:
        pass


class PrometheusAuthMetrics:
    """``chassis_auth_rejected_total{reason}`` and ``chassis_auth_jwks_fetches_total{outcome}``."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter

        self._rejected = Counter(
            REJECTED_METRIC,
            "Requests refused by the auth plugin, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:  # every series exists from the start, so rate() works
            self._rejected.labels(reason=reason)
        self._fetches = Counter(
            JWKS_FETCH_METRIC,
            "Fetches of the JSON Web Key Set, by outcome (ok, error).",
            ["outcome"],
            registry=registry,
        )
        self._fetches.labels(outcome="ok")
        self._fetches.labels(outcome="error")

    def rejected(self, reason: str) -> None:
        self._rejected.labels(reason=reason).inc()

    def jwks_fetched(self, ok: bool) -> None:
        self._fetches.labels(outcome="ok" if ok else "error").inc()


def metrics_for(app: Any) -> AuthMetrics:
    """The counters for ``app``: on the metrics plugin's registry, or :class:`NoMetrics`."""
    return chassis.register_metrics(app, PrometheusAuthMetrics) or NoMetrics()
