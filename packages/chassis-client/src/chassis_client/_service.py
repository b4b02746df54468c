"""One downstream service of one app: its breaker, retry budget and pooled clients."""

from __future__ import annotations

from typing import Any

import httpx

from . import _stubs
from ._auth import ClientCredentials, build_auth, static_headers
from ._breaker import CLOSED, CircuitBreaker, RetryBudget
from ._metrics import ClientMetrics
from ._settings import ServiceSettings
from ._transport import AsyncServiceTransport, Policy, ServiceTransport


class Downstream:
    """A named service: its settings, breaker, budget and (once started) its clients."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        metrics: ClientMetrics,
        deadline_header: str | None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.metrics = metrics
        breaker = settings.breaker
        self.breaker = (
            CircuitBreaker(
                breaker.failure_threshold,
                breaker.reset_timeout,
                breaker.half_open_calls,
                on_change=self._breaker_changed,
            )
            if breaker.enabled
            else None
        )
        self.budget = RetryBudget(settings.retry.budget_ratio, settings.retry.budget_reserve)
        self.policy = Policy(
            name,
            settings,
            breaker=self.breaker,
            budget=self.budget,
            metrics=metrics,
            deadline_header=deadline_header,
        )
        self.auth: ClientCredentials | None = build_auth(name, settings.auth, settings.verify)
        self.sync: httpx.Client | None = None
        self.asynchronous: httpx.AsyncClient | None = None
        metrics.breaker(name, CLOSED)

    def _breaker_changed(self, state: str) -> None:
        import logging

        level = logging.INFO if state == CLOSED else logging.WARNING
        logging.getLogger("chassis_client").log(
            level, "circuit breaker of service %r is now %s", self.name, state
        )
        self.metrics.breaker(self.name, state)

    # -- clients ----------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        settings = self.settings
        timeout = settings.timeout
        return {
            "base_url": settings.base_url,
            "headers": {**settings.headers, **static_headers(settings.auth)},
            "timeout": httpx.Timeout(
                connect=timeout.connect, read=timeout.read, write=timeout.read, pool=timeout.connect
            ),
            "auth": self.auth,
            "follow_redirects": False,
        }

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.settings.max_connections,
            max_keepalive_connections=self.settings.max_keepalive_connections,
        )

    def open(self, tracer_provider: Any = None, *, traced: bool = False) -> None:
        """Make both clients (at start-up, on the server's event loop); ``traced``: with a
        client span per attempt, from ``tracer_provider`` (``None``: the global one)."""
        stub = _stubs.stubs.get(self.name)
        inner: httpx.BaseTransport = (
            stub.sync
            if stub
            else httpx.HTTPTransport(verify=self.settings.verify, limits=self._limits())
        )
        ainner: httpx.AsyncBaseTransport = (
            stub.asynchronous
            if stub
            else httpx.AsyncHTTPTransport(verify=self.settings.verify, limits=self._limits())
        )
        if traced:
            from opentelemetry.instrumentation.httpx import (
                AsyncOpenTelemetryTransport,
                SyncOpenTelemetryTransport,
            )

            # Inside the retries: a client span per attempt, each the parent the service sees.
            inner = SyncOpenTelemetryTransport(inner, tracer_provider=tracer_provider)
            ainner = AsyncOpenTelemetryTransport(ainner, tracer_provider=tracer_provider)
        self.sync = httpx.Client(transport=ServiceTransport(inner, self.policy), **self._options())
        self.asynchronous = httpx.AsyncClient(
            transport=AsyncServiceTransport(ainner, self.policy), **self._options()
        )

    async def close(self) -> None:
        sync, self.sync = self.sync, None
        asynchronous, self.asynchronous = self.asynchronous, None
        if sync is not None:
            sync.close()
        if asynchronous is not None:
            await asynchronous.aclose()
        if self.auth is not None:
            await self.auth.aclose()

    # -- readiness --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        import chassis

        breaker = self.breaker
        state = breaker.state if breaker is not None else "disabled"
        report: dict[str, Any] = {
            "status": "down" if state == "open" and self.settings.readiness else "up",
            "base_url": chassis.redact_credentials(self.settings.base_url),
            "breaker": state,
        }
        if breaker is not None:
            report["consecutive_failures"] = breaker.failures
            if state == "open":
                report["retry_after"] = round(breaker.retry_after(), 3)
                report["degraded"] = True
        report["retry_budget"] = round(self.budget.balance, 2)
        return report
