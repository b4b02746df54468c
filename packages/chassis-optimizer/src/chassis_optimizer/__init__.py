"""chassis-optimizer: compression, fast JSON, minified HTML, HTTP caching and a response cache
for chassis services (plugin ``optimizer``).

* Responses are compressed with zstd, brotli or gzip as ``Accept-Encoding`` asks (q-values
  honoured), at the ASGI level, errors included; ``Vary`` is appended to, never replaced.
* JSON is serialized by orjson (Connexion's jsonifier and Flask's JSON provider); HTML is
  minified with minify-html.
* GET/HEAD 200 responses get an ``ETag`` (weak when the body carries the request id, as
  with the envelope); ``If-None-Match`` is answered with 304. HEAD gets the header fields
  of GET.
* Routes that opt in (``@set_cache_timeout``, ``x-chassis-cache`` in the spec, or the
  ``cache`` setting) get ``Cache-Control`` and a server-side cache (in memory, or Redis shared
  by every worker and replica): a hit never runs the view. Concurrent misses of one entry
  run the view once; :func:`invalidate` drops entries after a write.

Per-route switches: :func:`do_not_minify`, :func:`do_not_compress`, :func:`do_not_cache`,
:func:`do_minify`, :func:`do_compress`, :func:`set_cache_timeout`, :func:`optimize`, and
connexion-plus's :class:`FlaskOptimize`. See the package README for every setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import chassis

from ._decorators import (
    FlaskOptimize,
    do_compress,
    do_minify,
    do_not_cache,
    do_not_compress,
    do_not_minify,
    optimize,
    set_cache_timeout,
)
from ._invalidate import ainvalidate, find_optimizer, invalidate
from ._settings import OptimizerSettings

if TYPE_CHECKING:
    from ._state import Optimizer

__all__ = [
    "FlaskOptimize",
    "OptimizerSettings",
    "ainvalidate",
    "do_compress",
    "do_minify",
    "do_not_cache",
    "do_not_compress",
    "do_not_minify",
    "get_optimizer",
    "invalidate",
    "optimize",
    "set_cache_timeout",
]

chassis_plugin_name = "optimizer"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_optimizer])``."""

HEALTH_CHECK = "response_cache"
"""The name of the optimizer's readiness check."""


def get_optimizer(app: Any) -> Optimizer | None:
    """The optimizer of ``app`` (a :class:`chassis.App` or its Flask application): its cache
    backend, settings, metrics; ``None`` when the plugin is not active for it."""
    return find_optimizer(app)


def _check_cache_url(settings: OptimizerSettings) -> None:
    if settings.cache_url is None:
        return
    url = settings.cache_url.get_secret_value()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    variable = "CHASSIS_OPTIMIZER__CACHE_URL (optimizer.cache_url)"
    if scheme not in ("redis", "rediss", "unix", "memory"):
        raise chassis.SettingsError(
            f"Invalid settings:\n  {variable}: must be a redis://, rediss:// or unix:// URL, "
            f"or memory:// (got a {scheme + ':// URL' if scheme else 'value without a scheme'})"
        )
    if scheme != "memory":
        try:
            from redis.asyncio import Redis
        except ImportError:
            raise chassis.SettingsError(
                f"Invalid settings:\n  {variable}: a Redis cache needs the redis package: "
                "pip install 'chassis-optimizer[redis]'"
            ) from None
        try:
            Redis.from_url(url)  # parses the URL; connects on first use
        except ValueError as error:
            # The error names the part at fault; the URL itself may hold a password.
            message = str(error).replace(url, "<url>")
            raise chassis.SettingsError(
                f"Invalid settings:\n  {variable}: not a valid Redis URL: {message}"
            ) from None


# -- hooks ------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[OptimizerSettings]:
    return OptimizerSettings


@chassis.hookimpl
def configure_app(app: chassis.BaseApp, plugin: chassis.PluginContext) -> None:
    from ._middleware import OptimizerMiddleware, drop_unbuffered_head_bodies
    from ._routes import OptimizerRouteMiddleware
    from ._state import STATE_KEY, Optimizer, minify_policy

    settings: OptimizerSettings = plugin.settings
    _check_cache_url(settings)
    plugin.state = optimizer = Optimizer(app, settings)
    flask_app = app.flask_app
    if flask_app is not None:
        flask_app.extensions[STATE_KEY] = optimizer  # flask.current_app in views finds it
        # A HEAD runs as a GET; Flask still answers one whose body would only be dropped.
        flask_app.after_request(drop_unbuffered_head_bodies(settings.compress_max_size))

    if settings.fast_json:
        from ._json import OrjsonJsonifier

        default = settings.minify

        def minify() -> bool:
            found = minify_policy()
            return default if found is None else found

        # Unless the application chose its own jsonifier or Flask JSON provider.
        provider = None
        if flask_app is not None:
            from ._json import OrjsonProvider

            provider = OrjsonProvider(flask_app)
        app.use_fast_json(OrjsonJsonifier(minify, app.settings.json_indent), provider)

    # Compression and conditional requests change the body and status: inside the observers.
    app.add_middleware(OptimizerMiddleware, slot="encode", optimizer=optimizer)
    app.add_middleware(OptimizerRouteMiddleware, slot="handler", optimizer=optimizer)


@chassis.hookimpl
async def startup(plugin: chassis.PluginContext) -> None:
    """Open the response cache's backend (the Redis client) on the server's event loop."""
    await plugin.state.start()


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    """Close the response cache's Redis connections."""
    await plugin.state.stop()


@chassis.hookimpl
async def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]]:
    """The response cache: its backend, and for Redis whether it is reachable. An unreachable
    Redis is reported ``degraded`` (status ``up``: the service answers without the cache),
    or ``down`` when ``cache_required`` is set."""
    return {HEALTH_CHECK: await plugin.state.health()}
