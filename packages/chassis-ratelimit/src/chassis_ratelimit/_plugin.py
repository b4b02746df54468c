"""The plugin's hooks: settings, the layer in the request path, the storage's life, and the
readiness check."""

from __future__ import annotations

from typing import Any

import chassis

from ._settings import RateLimitSettings

HEALTH_CHECK = "ratelimit"
"""The name of the plugin's readiness check."""


@chassis.hookimpl
def settings_model() -> type[RateLimitSettings]:
    return RateLimitSettings


@chassis.hookimpl
def configure_app(app: chassis.App, plugin: chassis.PluginContext) -> None:
    from ._limiter import Limiter
    from ._middleware import RateLimitMiddleware

    plugin.state = limiter = Limiter(app, plugin.settings)
    # Browsers only let scripts read these when CORS exposes them.
    app.cors_expose_headers.extend(["RateLimit", "RateLimit-Policy", "Retry-After"])
    # After security (the principal is known), before validation; before pagination's checks.
    app.add_middleware(RateLimitMiddleware, slot="authorized", order=10, limiter=limiter)


@chassis.hookimpl
async def startup(plugin: chassis.PluginContext) -> None:
    """Make the Redis client on the server's event loop (it connects on first use)."""
    await plugin.state.store.start()


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    """Close the Redis connections."""
    await plugin.state.store.close()


@chassis.hookimpl
async def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]]:
    """The storage: for Redis, whether it is reachable. Unreachable is ``degraded`` (status
    ``up``: requests are served unchecked), or ``down`` when ``fail_open`` is off."""
    return {HEALTH_CHECK: await plugin.state.health()}
