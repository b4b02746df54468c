"""chassis-idempotency: safe retries of POST and PATCH (plugin ``idempotency``).

A request carrying an ``Idempotency-Key`` header (draft-ietf-httpapi-idempotency-key-header)
runs its handler once per key and principal: the completed response (status, header fields,
body) is stored, in memory or in Redis shared by every worker and replica, and a retry with
the same key and the same request (method, path and query, body) gets it again, marked
``Idempotent-Replayed: true``. The same key with another request is a 422, a retry while the
first is still running a 409 with ``Retry-After``, a missing key where the operation requires
one a 400: all problem+json. Operations choose with ``x-chassis-idempotency`` in the spec
(``{required: true, ttl: 24h}``, ``false``). See the package README for every setting.
"""

from __future__ import annotations

from typing import Any

import chassis

from ._settings import IdempotencySettings, OperationOptions

__all__ = ["EXTENSION", "HEALTH_CHECK", "IdempotencySettings", "OperationOptions"]

chassis_plugin_name = "idempotency"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_idempotency])``."""

EXTENSION = "x-chassis-idempotency"
"""The per-operation OpenAPI extension: ``true``, ``false`` or ``{required, ttl, enabled}``."""

HEALTH_CHECK = "idempotency"
"""The name of the plugin's readiness check."""


@chassis.hookimpl
def settings_model() -> type[IdempotencySettings]:
    return IdempotencySettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    from ._middleware import IdempotencyRecordMiddleware, IdempotencyRouteMiddleware
    from ._state import Idempotency

    settings: IdempotencySettings = plugin.settings
    plugin.state = state = Idempotency(app, settings)
    if settings.replay_header:
        app.cors_expose_headers.append(settings.replay_header)
    # Outside Connexion's exception middleware: it stores the problem+json a handler's
    # exception becomes, and sits inside the optimizer's compression (encode slot).
    app.add_middleware(IdempotencyRecordMiddleware, slot="outer", order=50, state=state)
    # After security and validation: the principal is known, refused requests take no key.
    # Outside the optimizer's route layer (order 0), so a replay invalidates nothing.
    app.add_middleware(IdempotencyRouteMiddleware, slot="handler", order=-10, state=state)


@chassis.hookimpl
async def startup(plugin: chassis.PluginContext) -> None:
    """Open the store (the Redis client) on the server's event loop."""
    await plugin.state.store.start()


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    await plugin.state.store.close()


@chassis.hookimpl
async def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]]:
    """The store: which one, and for Redis whether it is reachable (``degraded`` when not;
    the status stays ``up``: requests without a key are served either way)."""
    return {HEALTH_CHECK: await plugin.state.health()}
