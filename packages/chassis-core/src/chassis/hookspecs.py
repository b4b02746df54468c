"""Hook specifications: the seams between the chassis kernel and its plugins.

A plugin is any object (usually a module) with functions marked ``@chassis.hookimpl`` and
named like the hooks below. An implementation may take any subset of a hook's arguments.

Every hook is called through pluggy, so ``@hookimpl(tryfirst=True)``, ``trylast=True`` and
``wrapper=True`` work on all of them. The set-up hooks (``configure_app``,
``register_error_handlers``), ``startup`` and ``health_info`` run in registration order (the
order of ``CHASSIS_PLUGINS``, then the objects passed to ``App(plugins=...)``); ``shutdown``
runs in the reverse order; the per-request hooks (``wrap_response``, ``outgoing_headers``)
in pluggy's own order, last registered first. Where a hook has a ``plugin`` argument, each
implementation receives its own :class:`chassis.PluginContext`: the plugin's settings section
and per-app state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    import argparse

    from pydantic import BaseModel

    from ._app import App
    from ._responses import OperationResult
    from ._runtime import PluginContext
    from ._settings import Settings


@hookspec
def settings_model() -> type[BaseModel] | None:
    """Declare the plugin's settings model.

    Return a :class:`chassis.PluginSettings` subclass (a pydantic model). The kernel mounts it
    on the settings under the plugin's name, so a plugin named ``metrics`` reads
    ``settings.metrics.path``, filled from ``CHASSIS_METRICS__PATH``, the ``[metrics]`` table of
    the TOML file or ``App(settings={"metrics": {"path": ...}})``. Fields must have defaults;
    unknown keys and invalid values stop start-up with a message naming the variable.

    :return: the model class, or ``None`` when the plugin has no settings.

    Called once per plugin, while the ``App`` is being built, before ``configure_app``; only
    the calling plugin's own implementation is used for its section.

    Example::

        class MetricsSettings(chassis.PluginSettings):
            path: str = "/metrics"

        @chassis.hookimpl
        def settings_model():
            return MetricsSettings
    """


@hookspec
def configure_app(app: App, settings: Settings, plugin: PluginContext) -> None:
    """Set the application up: add ASGI middleware, routes, extensions.

    :param app: the app being built: a :class:`chassis.App` (a ``connexion.FlaskApp``; its
        Flask application is ``app.flask_app``) or a :class:`chassis.AsyncApp` (a
        ``connexion.AsyncApp``; ``app.flask_app`` is ``None``). A plugin that cannot work on
        one of them raises a :class:`chassis.PluginError` saying so, at start-up.
    :param settings: the validated settings of the whole app.
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: nothing.

    Called once per ``App``, at construction, in registration order, after the kernel's own
    set-up (request ids, logging, health endpoints) and before ``register_error_handlers``.
    Middleware must be added here: Connexion refuses it once the app has started. Place ASGI
    middleware in a slot of the request path (``app.add_middleware(cls, slot="observe",
    order=10)``; the slots are listed in docs/plugins.md): its place never depends on which
    plugin loaded first. Prefer ASGI middleware over Flask hooks: it works under both app
    classes, and Flask never sees the 400/401/404/405 that Connexion's middleware answers.

    Example::

        @chassis.hookimpl
        def configure_app(app, plugin):
            plugin.state = Timer(plugin.settings.buckets)
            app.add_middleware(TimingMiddleware, slot="observe", order=50, timer=plugin.state)
    """


@hookspec
def register_error_handlers(app: App, plugin: PluginContext) -> None:
    """Register error handlers through the Connexion app.

    :param app: the :class:`chassis.App` or :class:`chassis.AsyncApp`; register with
        ``app.add_error_handler(status_or_exception_class, handler)``, where ``handler`` takes
        ``(request: ConnexionRequest, exc)`` and returns a ``ConnexionResponse`` (see
        :func:`chassis.problem_response`). Handlers registered this way also cover errors
        raised in Connexion's own middleware (routing, security, validation).
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: nothing.

    Called once per ``App``, in registration order, after ``configure_app`` and after the
    kernel registered its problem+json handlers, so a plugin's handler for the same key
    replaces the kernel's.

    Example::

        @chassis.hookimpl
        def register_error_handlers(app):
            app.add_error_handler(QuotaExceeded, lambda request, exc: chassis.problem_response(
                429, "Too Many Requests", str(exc)))
    """


@hookspec
def wrap_response(result: OperationResult) -> None:
    """Shape the result of a successful operation before it is serialized.

    :param result: the :class:`chassis.OperationResult` of one call of an operation handler:
        ``body`` (what the handler returned, not yet serialized), ``status``, ``headers`` (a
        mutable mapping), ``meta`` (a dict that becomes the envelope's ``meta`` when the
        envelope is on), ``operation_id`` and ``is_json``. Change it in place.
    :return: nothing.

    Called in the thread of the view, once per operation call whose status is below 400 and
    whose result is not already a framework response object. When no plugin implements it,
    handlers are not wrapped at all, so it costs nothing per request. The kernel's envelope
    runs ``trylast``, after every other implementation has added to ``meta``.

    Example::

        @chassis.hookimpl
        def wrap_response(result):
            result.headers["X-Served-By"] = "blue"
            result.meta["region"] = "eu-west-2"
    """


@hookspec
def health_info(app: App, plugin: PluginContext) -> dict[str, dict[str, Any]] | None:
    """Report the state of what the service depends on, for the readiness probe.

    :param app: the :class:`chassis.App` or :class:`chassis.AsyncApp`.
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: ``{check_name: {"status": "up" | "down", ...details}}``, or ``None`` to report
        nothing. Details must be JSON-serializable and must not contain secrets.

    Called on every request to the readiness endpoint (``/readyz``), the startup endpoint
    (``/startupz``) and ``/health/{group}``, and on ``/healthz`` once the plugin is known to
    report a ``liveness`` check. A check is in the groups its details name
    (``"groups": ["readiness", "startup"]``), else in ``readiness``. Every implementation is
    started at once, each on its own: in a worker thread, or on the server's event loop when
    it is ``async def``; each gets the time limit ``CHASSIS_HEALTH__TIMEOUT`` (2 s by
    default). An exception or a time-out marks that plugin's checks ``down`` with the
    reason; any check ``down`` makes the probe answer 503. A ``wrapper=True`` implementation
    receives (from its ``yield``) the list of every plugin's report, once all have finished.

    Example::

        @chassis.hookimpl
        def health_info(plugin):
            return {"redis": {"status": "up" if plugin.state.ping() else "down"}}
    """


@hookspec
def info(app: App, plugin: PluginContext) -> dict[str, Any] | Awaitable[dict[str, Any]] | None:
    """Add the plugin's section to the service's ``/info`` endpoint (and ``chassis info``).

    :param app: the :class:`chassis.App` (or ``AsyncApp``).
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: a JSON-serializable dict, shown as ``plugins.<name>.info`` beside the plugin's
        distribution and version; or ``None`` to add nothing. An ``async def``
        implementation is awaited. It must not contain secrets (``user:password@`` in URLs
        is redacted, other values are shown as given).

    Called on every request to ``/info`` (``CHASSIS_INFO__PATH``), in registration order,
    in a worker thread (``async def`` ones on the server's event loop), each limited to
    ``CHASSIS_HEALTH__TIMEOUT`` seconds. An exception or a time-out shows
    ``{"error": ...}`` in that plugin's section; the endpoint still answers 200.

    Example::

        @chassis.hookimpl
        def info(plugin):
            return {"cache_url": plugin.settings.url, "entries": len(plugin.state)}
    """


@hookspec(firstresult=True)
def validate_bearer_token(
    app: App, token: str, scopes: list[str]
) -> dict[str, Any] | Awaitable[dict[str, Any]] | None:
    """Check a bearer token for the kernel's own protected endpoints.

    :param app: the :class:`chassis.App` (or ``AsyncApp``).
    :param token: the credentials of the request's ``Authorization: Bearer`` header.
    :param scopes: scopes the token must grant (``CHASSIS_MANAGEMENT__SCOPE``).
    :return: the token's info (its claims) when it is valid and grants every scope, or
        ``None`` when this plugin does not check bearer tokens; raise to refuse it (an
        exception with ``status`` or ``status_code`` 403 for a missing scope, anything else
        is a 401). An
        ``async def`` implementation is awaited. The first result that is not ``None`` wins.

    Called on each management operation that changes state (``PUT /loggers/{name}``) when
    ``CHASSIS_MANAGEMENT__SCOPE`` is set, on the server's event loop; the auth plugin
    implements it. With the scope set and no implementation, start-up stops.

    Example::

        @chassis.hookimpl
        async def validate_bearer_token(app, token, scopes):
            claims = await verifier.verify(token)
            if not set(scopes) <= set(claims.get("scope", "").split()):
                raise PermissionError("insufficient scope")  # a 401, or give it status 403
            return claims
    """


@hookspec
def startup(app: App, plugin: PluginContext) -> Awaitable[None] | None:
    """Start what the plugin needs while the server runs: pools, background tasks, a first
    fetch of remote keys.

    :param app: the :class:`chassis.App` or :class:`chassis.AsyncApp`.
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: nothing; an ``async def`` implementation is awaited.

    Called once in each server process (each worker), on the server's event loop, when the
    server starts serving (the ASGI lifespan start-up), inside the application's own
    ``lifespan=`` context and before the first request. Plugins start in registration order.
    That loop is the one ``async def`` handlers run on (with ``chassis.App`` too), so
    clients and pools made here work in every handler. An exception stops the server's
    start-up with a message naming the plugin, after ``shutdown`` has run for the plugins
    already started. Not called when no server runs the app's lifespan (a test client used
    without ``with``).

    Example::

        @chassis.hookimpl
        async def startup(plugin):
            plugin.state = redis.asyncio.from_url(plugin.settings.url)
    """


@hookspec
def shutdown(app: App, plugin: PluginContext) -> Awaitable[None] | None:
    """Release what ``startup`` acquired: close pools, flush buffers, cancel tasks.

    :param app: the :class:`chassis.App` or :class:`chassis.AsyncApp`.
    :param plugin: the calling plugin's own :class:`chassis.PluginContext`: ``plugin.settings``
        is its settings section, ``plugin.state`` its per-app object.
    :return: nothing; an ``async def`` implementation is awaited.

    Called once in each server process when the server stops (the ASGI lifespan shutdown),
    after the last request, on the server's event loop, in the reverse order of ``startup``
    and before the application's own ``lifespan=`` context ends. An exception is logged with
    the plugin's name and the other plugins still shut down.

    Example::

        @chassis.hookimpl
        async def shutdown(plugin):
            await plugin.state.aclose()
    """


@hookspec
def outgoing_headers(headers: dict[str, str]) -> None:
    """Add headers to an outgoing HTTP call made on behalf of the current request.

    :param headers: the headers of the outgoing request; add to them in place.
    :return: nothing.

    Called by :func:`chassis.outgoing_headers` (which application code calls before calling
    another service), inside the request. The kernel itself adds the request id; the tracing
    plugin adds ``traceparent``, ``tracestate`` and ``baggage``.

    Example::

        @chassis.hookimpl
        def outgoing_headers(headers):
            headers["X-Tenant"] = chassis.current_context.get("tenant", "")
    """


@hookspec(firstresult=True)
def metrics_registry(app: App) -> Any:
    """Provide the metrics registry other plugins register their metrics on.

    :param app: the :class:`chassis.App` or :class:`chassis.AsyncApp`.
    :return: a ``prometheus_client.CollectorRegistry`` whose metrics the app exposes, or
        ``None``. The first implementation that returns one wins.

    Called by :func:`chassis.register_metrics`, usually from other plugins'
    ``configure_app``; the metrics plugin implements it. Plugins call
    ``chassis.register_metrics`` rather than this hook.

    Example::

        @chassis.hookimpl
        def metrics_registry(app):
            return app.plugin_context("metrics").state.registry
    """


@hookspec
def add_cli_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    load_app: Callable[..., Any],
) -> None:
    """Add subcommands to the ``chassis`` command line.

    :param commands: the ``chassis`` parser's subparsers: ``commands.add_parser(name, help=...)``
        returns an ``argparse.ArgumentParser``; give it ``set_defaults(func=run)``, where
        ``run(args: argparse.Namespace) -> int`` returns the exit code. A
        :class:`chassis.SettingsError` or :class:`chassis.PluginError` it raises is printed
        as one line (exit code 2).
    :param load_app: ``load_app("module:attribute", factory=False)`` imports and returns the
        service's :class:`chassis.App` (built by calling it with ``factory=True``), as
        ``chassis stack APP`` does; a command that works on a service takes ``APP`` and
        ``--factory`` arguments and calls it.
    :return: nothing.

    Called when ``chassis`` is run with a command that is not the kernel's own (``plugins``,
    ``settings``, ``stack``, ``run`` and ``new-plugin`` never import a plugin), and for
    ``chassis --help``, on every installed plugin that imports (whatever settings enable:
    the app that a command loads decides what it uses). Command names must not clash with
    the kernel's or another plugin's.

    Example::

        @chassis.hookimpl
        def add_cli_commands(commands, load_app):
            purge = commands.add_parser("purge-cache", help="empty the response cache")
            purge.add_argument("app")
            purge.set_defaults(func=lambda args: purge_all(load_app(args.app)) or 0)
    """
