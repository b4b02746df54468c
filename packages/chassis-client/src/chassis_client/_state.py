"""The client plugin's per-app object: the app's downstream services and their clients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import chassis
import httpx

from . import _stubs
from ._metrics import ClientMetrics
from ._service import Downstream
from ._settings import ClientSettings, ServiceSettings

STATE_KEY = "chassis_client"
"""Where the app keeps its :class:`Clients` (``app.extras``), for a fast lookup per call."""


class UnknownService(LookupError):
    """No service of that name is configured (``CHASSIS_CLIENT__SERVICES__<NAME>__BASE_URL``)."""


def setting_name(service: str, field: str = "base_url") -> str:
    return f"CHASSIS_CLIENT__SERVICES__{service.upper()}__{field.upper()}"


class Clients:
    """The downstream services of one app, by name."""

    def __init__(self, app: Any, settings: ClientSettings) -> None:
        self.app = app
        self.settings = settings
        self.metrics = ClientMetrics()
        self.metrics.bind(app)
        self.started = False
        services = dict(settings.services)
        for name in _stubs.stubs:  # a stubbed service needs no settings of its own in tests
            services.setdefault(
                name, ServiceSettings(base_url=_stubs.STUB_BASE_URL.format(name=name))
            )
        self.services = {
            name: Downstream(
                name,
                section,
                metrics=self.metrics,
                deadline_header=settings.deadline_header,
            )
            for name, section in services.items()
        }
        self.require(settings.require, source="CHASSIS_CLIENT__REQUIRE")

    def require(self, names: Iterable[str], source: str = "the application") -> None:
        """Stop start-up unless every one of ``names`` is configured."""
        missing = [name.lower() for name in names if name.lower() not in self.services]
        if missing:
            known = ", ".join(sorted(self.services)) or "none"
            lines = [
                f"  {setting_name(name)} (client.services.{name}.base_url): service {name!r} "
                f"is required by {source} but not configured (configured services: {known})"
                for name in missing
            ]
            raise chassis.SettingsError("Invalid settings:\n" + "\n".join(lines))

    def service(self, name: str) -> Downstream:
        found = self.services.get(name)
        if found is None:
            found = self.services.get(name.lower())
        if found is None:
            known = ", ".join(sorted(self.services)) or "none"
            raise UnknownService(
                f"no downstream service {name!r}: set {setting_name(name.lower())} "
                f"(configured services: {known})"
            )
        return found

    def client(self, name: str) -> httpx.Client:
        client = self.service(name).sync
        if client is None:
            raise RuntimeError(_NOT_STARTED)
        return client

    def async_client(self, name: str) -> httpx.AsyncClient:
        client = self.service(name).asynchronous
        if client is None:
            raise RuntimeError(_NOT_STARTED)
        return client

    def start(self) -> None:
        # At start-up, when every plugin is configured (the tracing plugin's provider too).
        tracer_provider, traced = _tracing(self.app)
        for service in self.services.values():
            service.open(tracer_provider if traced else None, traced=traced)
        self.started = True

    async def stop(self) -> None:
        self.started = False
        for service in self.services.values():
            await service.close()

    def health(self) -> dict[str, dict[str, Any]] | None:
        if not self.services:
            return None
        return {f"downstream:{name}": s.health() for name, s in self.services.items()}


_NOT_STARTED = (
    "chassis_client: the app's clients are made when it starts and closed when it stops; "
    "serve it (or use its test client in a `with` block) before calling a service"
)


def _tracing(app: Any) -> tuple[Any, bool]:
    """The tracing plugin's tracer provider, and whether client spans can be made (the
    plugin is on and opentelemetry-instrumentation-httpx is installed)."""
    if "tracing" not in getattr(app, "plugins", {}):
        return None, False
    try:
        import opentelemetry.instrumentation.httpx  # noqa: F401
    except ImportError:
        import logging

        logging.getLogger("chassis_client").info(
            "client: calls carry the trace context; for a client span per call, "
            "pip install 'chassis-client[tracing]'"
        )
        return None, False
    context = app.plugins["tracing"]
    provider = getattr(context.state, "provider", None)
    return provider, True
