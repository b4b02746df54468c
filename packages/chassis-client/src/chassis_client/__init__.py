"""chassis-client: calls to other services (plugin ``client``).

Each downstream service is named in settings
(``CHASSIS_CLIENT__SERVICES__BILLING__BASE_URL=http://billing:8080/v1``) and gets a pooled
``httpx.Client`` and ``httpx.AsyncClient``, made when the app starts and closed when it stops::

    def get_invoice(invoice_id):
        return chassis_client.client("billing").get(f"/invoices/{invoice_id}").json()

    async def get_invoice_async(invoice_id):
        response = await chassis_client.async_client("billing").get(f"/invoices/{invoice_id}")
        return response.json()

Every call carries the request id, the trace context (a client span per attempt with the
tracing plugin and ``chassis-client[tracing]``) and the time left (``Request-Timeout``, in
milliseconds); idempotent calls are retried with exponential back-off and jitter within a
retry budget; a circuit breaker per service refuses calls while the service fails
(:class:`ServiceUnavailable`, a 503 problem+json naming the service). See the README.
"""

from __future__ import annotations

from typing import Any

import chassis
import httpx

from ._auth import TokenError
from ._deadline import deadline, remaining
from ._errors import DeadlineExceeded, ServiceUnavailable
from ._settings import (
    AuthSettings,
    BreakerSettings,
    ClientSettings,
    RetrySettings,
    ServiceSettings,
    TimeoutSettings,
)
from ._state import STATE_KEY, Clients, UnknownService

__all__ = [
    "AuthSettings",
    "BreakerSettings",
    "ClientSettings",
    "Clients",
    "DeadlineExceeded",
    "RetrySettings",
    "ServiceSettings",
    "ServiceUnavailable",
    "TimeoutSettings",
    "TokenError",
    "UnknownService",
    "async_client",
    "client",
    "clients",
    "deadline",
    "remaining",
    "require",
]

chassis_plugin_name = "client"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_client])``."""


# -- public API -----------------------------------------------------------------------------


def clients(app: Any = None) -> Clients:
    """The downstream services of ``app`` (default: the app serving the current request)."""
    if app is None:
        context = chassis.get_context()
        if context is None or context.app is None:
            raise RuntimeError(
                "chassis_client: outside a request, pass the app: client(name, app=app)"
            )
        app = context.app
    found: Clients | None = app.extras.get(STATE_KEY)
    if found is None:
        raise RuntimeError(
            "chassis_client: the client plugin is not active in this app "
            "(install chassis-client and keep 'client' in CHASSIS_PLUGINS)"
        )
    return found


def client(name: str, *, app: Any = None) -> httpx.Client:
    """The pooled sync client of service ``name``: for ``def`` views and worker threads.

    Its base URL, timeouts, headers and auth come from ``CHASSIS_CLIENT__SERVICES__<NAME>__*``;
    an unknown name raises :class:`UnknownService` naming the setting to add.
    """
    return clients(app).client(name)


def async_client(name: str, *, app: Any = None) -> httpx.AsyncClient:
    """The pooled async client of service ``name``: for ``async def`` views (both app classes;
    it belongs to the server's event loop, which runs them)."""
    return clients(app).async_client(name)


def require(app: Any, *names: str) -> None:
    """Declare the services the application calls: start-up stops, naming the setting to
    add, unless each is configured. Call it where the app is built::

        app = chassis.App(__name__)
        chassis_client.require(app, "billing", "address")
    """
    context = app.plugin_context(__name__)
    if context is None:
        raise chassis.SettingsError(
            "Invalid settings:\n  CHASSIS_PLUGINS: the application calls services "
            f"({', '.join(names)}) through chassis_client, but the client plugin is not active"
        )
    state: Clients = context.state
    state.require(names)


# -- hooks ----------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[ClientSettings]:
    return ClientSettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    settings: ClientSettings = plugin.settings
    plugin.state = state = Clients(app, settings)
    app.extras[STATE_KEY] = state
    if state.services and settings.deadline_header:
        from ._deadline import DeadlineMiddleware

        # Early in the request path: the budget counts from the request's arrival.
        app.add_middleware(
            DeadlineMiddleware, slot="outer", order=-100, header=settings.deadline_header
        )


@chassis.hookimpl
def register_error_handlers(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    from ._errors import handle_deadline, handle_transport_error, handle_unavailable

    if not plugin.state.services:
        return  # no service to call: the application's own httpx errors stay its own

    # The most specific class wins: a refused call is a 503, an expired one a 504, another
    # failed call a 502 (504 for a time-out), each naming the service.
    app.add_error_handler(httpx.TransportError, handle_transport_error)
    app.add_error_handler(ServiceUnavailable, handle_unavailable)
    app.add_error_handler(DeadlineExceeded, handle_deadline)


@chassis.hookimpl
def startup(plugin: chassis.PluginContext) -> None:
    """Make each service's clients, on the server's event loop."""
    state: Clients = plugin.state
    state.start()


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    """Close each service's clients and connections, on the loop they belong to."""
    state: Clients = plugin.state
    await state.stop()


@chassis.hookimpl
def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]] | None:
    """Each service's circuit breaker: ``downstream:<name>`` checks, ``up`` (an open breaker
    is reported ``degraded``) unless the service's ``readiness`` setting says otherwise."""
    state: Clients = plugin.state
    return state.health()
