"""What ``chassis.App`` and ``chassis.AsyncApp`` share: settings, plugins, the request path.

Each application class is this mixin over one of Connexion's application classes, plus the
few things that differ between them (see ``_app.py`` and ``_async_app.py``).
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from typing import Any

import pluggy
from connexion.apps.abstract import AbstractApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver
from pydantic import ImportString, TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from . import _envelope
from ._errors import register_kernel_handlers
from ._event_loop import HandlerLoop
from ._json import KernelJsonifier, compact_jsonifier
from ._kernel_endpoints import ApiPrecedence
from ._last_resort import LastResortMiddleware
from ._lifespan import LifespanMiddleware
from ._limits import RequestLimitsMiddleware
from ._loader import load_plugins
from ._logging import configure_logging, query_credentials
from ._management import add_management_layers
from ._operations import prefer_success_content_types
from ._origins import Overrides
from ._plugins import PluginInfo, dist_fields
from ._request_id import RequestContextMiddleware
from ._request_path import (
    APPLICATION,
    DEFAULT_SLOT,
    KERNEL,
    RequestPath,
    slot_of_position,
)
from ._responses import ResponseHook, WrappingResolver
from ._route import RouteMiddleware
from ._runtime import HookRunner, PluginContext, current_owner, plugin_contexts
from ._settings import Settings, SettingsError
from ._spec_paths import spec_paths
from ._validation import validator_map

logger = logging.getLogger("chassis")

try:
    # The head of the metadata file, not importlib.metadata.version(), which parses the whole
    # file as an e-mail message (about 2 ms of every start-up).
    __version__ = dist_fields(distribution("chassis-core"))[1]
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"


class BaseApp(AbstractApp):
    """What :class:`chassis.App` and :class:`chassis.AsyncApp` share: settings, plugins, the
    request path, hooks, probes, errors. Plugins that work with both take it in their type
    hints; the other half of each class is Connexion's."""

    settings: Settings
    plugin_manager: pluggy.PluginManager
    plugin_infos: dict[str, PluginInfo]
    middleware: Any
    _middleware_app: Any
    management_paths: list[str]
    """Paths served only on the management port, when one is set; plugins add theirs
    (``/metrics``) in ``configure_app``. Exact paths or globs (``chassis.PathPatterns``)."""
    _api_precedence: ApiPrecedence

    def __init__(
        self,
        import_name: str,
        *,
        settings: Settings | Mapping[str, Any] | None = None,
        plugins: Sequence[object] | Mapping[str, object] | None = None,
        use_tracer: Any = None,
        use_metric: Any = None,
        use_optimizer: Any = None,
        use_cors: Any = None,
        use_default_handler: Any = None,
        use_logging_level: Any = None,
        **connexion_kwargs: Any,
    ) -> None:
        self.extras: dict[str, Any] = {}
        """Objects handed to the App that settings cannot hold (a tracer, an error handler)."""

        from ._legacy import connexion_plus_overrides

        keywords: dict[str, str] = {}
        mapped = _merge(
            _as_overrides(settings),
            connexion_plus_overrides(
                self.extras,
                keywords,
                use_tracer=use_tracer,
                use_metric=use_metric,
                use_optimizer=use_optimizer,
                use_cors=use_cors,
                use_default_handler=use_default_handler,
                use_logging_level=use_logging_level,
            ),
        )
        loaded = load_plugins(Overrides(mapped, keywords), plugins)
        self.plugin_manager = loaded.manager
        self.plugin_infos = loaded.infos
        self.settings = loaded.settings
        cors = self.settings.cors
        if use_cors is True and not {"allow_origins", "allow_origin_regex"} & cors.model_fields_set:
            # connexion-plus's use_cors=True allows every origin, unless a policy is set.
            cors.allow_origins = ["*"]
        self.draining = False
        """True once SIGTERM arrived: readiness answers 503 while requests are still served."""
        self.request_path = RequestPath()
        """The layers of the request path, each in its slot (``chassis stack`` prints it)."""
        self.handler_loop = HandlerLoop()
        """The event loop ``async def`` work runs on: the server's, once the app started."""
        self.redacted_query_parameters = set(query_credentials())
        """Query parameters whose values access logs hide; ``add_api`` adds each spec's
        ``apiKey``-in-query names."""
        self._app_lifespan = connexion_kwargs.pop("lifespan", None)
        given = connexion_kwargs.get("jsonifier")
        self._kernel_jsonifier = KernelJsonifier(
            compact_jsonifier(self.settings.json_indent), self._flask_json_provider
        )
        connexion_kwargs["jsonifier"] = given or self._kernel_jsonifier
        connexion_kwargs["validator_map"] = validator_map(connexion_kwargs.get("validator_map"))
        super().__init__(import_name, **connexion_kwargs)
        self._adopt_connexion()
        configure_logging(self.settings.log_level, self.settings.log_format)

        from ._defaults import register_default_plugins

        register_default_plugins(self)
        self.plugins: dict[str, PluginContext] = plugin_contexts(
            self, self.plugin_manager, self.plugin_infos
        )
        """Each active plugin's :class:`chassis.PluginContext`, by name, in registration order."""
        self.hooks = HookRunner(self.plugin_manager, self.plugins)
        self.cors_expose_headers: list[str] = list(
            dict.fromkeys([*self.settings.cors.expose_headers, self.settings.request_id_header])
        )
        """Response headers CORS exposes to browsers; plugins append theirs in configure_app."""
        self._add_kernel_layers()
        self.hooks.call_setup("configure_app", app=self, settings=self.settings)
        register_kernel_handlers(self, self._custom_error_handler())
        self.hooks.call_setup("register_error_handlers", app=self)
        self._response_hook = (
            ResponseHook(self.plugin_manager.hook.wrap_response)
            if self.plugin_manager.hook.wrap_response.get_hookimpls()
            else None
        )
        self._log_active_plugins()

    # -- what each application class provides --------------------------------------------

    def _flask_json_provider(self) -> Any:
        """The Flask application's JSON provider (``None`` where there is no Flask)."""
        return None

    def _attach_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called at start-up on the server's event loop, before the plugins start."""
        self.handler_loop.attach(loop)

    def _adopt_connexion(self) -> None:
        """Called once Connexion's application is built."""
        build = self.middleware._build_middleware_stack
        connexion_layers = self.middleware.middlewares

        def build_with_slots() -> Any:
            self.middleware.middlewares = self.request_path.assemble(connexion_layers)
            app, stack = build()
            prefer_success_content_types(stack)
            return app, stack

        self.middleware._build_middleware_stack = build_with_slots
        self._connexion_layers = list(connexion_layers)

    # -- construction -------------------------------------------------------------------

    def _add_kernel_layers(self) -> None:
        settings = self.settings
        self._add_layer(
            RequestContextMiddleware,
            slot="request",
            chassis_app=self,
            header=settings.request_id_header,
            context_factory=_import(settings.context_class, "context_class"),
        )
        self._add_layer(LifespanMiddleware, slot="lifespan", chassis_app=self)
        if settings.cors.enabled:
            from starlette.middleware.cors import CORSMiddleware

            cors = settings.cors
            self._add_layer(
                CORSMiddleware,
                slot="cors",
                allow_origins=cors.allow_origins,
                allow_origin_regex=cors.allow_origin_regex,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                allow_credentials=cors.allow_credentials,
                # The same list object: the stack is built at the first request, so headers
                # that plugins append in configure_app are exposed too.
                expose_headers=self.cors_expose_headers,
                max_age=cors.max_age,
            )
        self._add_layer(LastResortMiddleware, slot="last_resort")
        self._add_layer(
            RequestLimitsMiddleware,
            slot="limits",
            max_bytes=settings.max_body_bytes,
            max_path_bytes=settings.max_path_bytes,
        )
        add_management_layers(self)  # probes, health groups, /info, /loggers, the port
        self._add_layer(RouteMiddleware, slot="routed")

    def _add_layer(self, factory: Any, *, slot: str, order: int = 0, **options: Any) -> None:
        self._check_not_started()
        self.request_path.add(factory, slot=slot, order=order, owner=KERNEL, options=options)

    def _custom_error_handler(self) -> Any:
        return self.extras.get("error_handler") or _import(
            self.settings.error_handler, "error_handler"
        )

    def _log_active_plugins(self) -> None:
        active = [f"{info.name} ({info.origin})" for info in self.active_plugins]
        logger.info(
            "%s %s on chassis %s; plugins: %s",
            self.settings.service_name,
            self.settings.service_version,
            __version__,
            ", ".join(active) or "none",
        )

    def _check_not_started(self) -> None:
        if self.middleware.middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after an application has started")

    # -- public API ---------------------------------------------------------------------

    @property
    def flask_app(self) -> Any:
        """The Flask application under a :class:`chassis.App`; ``None`` under
        :class:`chassis.AsyncApp`. Plugins that offer Flask-only extras check it."""
        return None

    @property
    def active_plugins(self) -> list[PluginInfo]:
        """The plugins in use, in registration order (built-in features left out)."""
        return [info for info in self.plugin_infos.values() if info.enabled and not info.builtin]

    def plugin_context(self, plugin: object) -> PluginContext | None:
        """The :class:`chassis.PluginContext` of an active plugin, or ``None``.

        ``plugin`` is its registered name (``"metrics"``), the registered object, or the name
        of a module of the plugin's package (``__name__`` from any of its modules), so module
        functions outside hooks find their own section and state::

            context = app.plugin_context(__name__)
        """
        if isinstance(plugin, str):
            if plugin in self.plugins:
                return self.plugins[plugin]
            for context in self.plugins.values():
                owner = context.plugin
                if isinstance(owner, types.ModuleType) and _within(plugin, owner.__name__):
                    return context
            return None
        for context in self.plugins.values():
            if context.plugin is plugin:
                return context
        return None

    def add_middleware(
        self,
        middleware_class: Any,
        position: MiddlewarePosition | None = None,
        *,
        slot: str | None = None,
        order: int = 0,
        **options: Any,
    ) -> None:
        """Place an ASGI middleware in the request path.

        :param slot: the slot it goes in (see ``docs/plugins.md``: ``observe``, ``encode``,
            ``outer``, ``routed``, ``authorized``, ``handler``...). Connexion's ``position=``
            is accepted too: ``BEFORE_X`` is the slot just before Connexion's layer X.
        :param order: its place inside the slot, outermost first; equal orders go by the
            middleware's name.
        :param options: passed to ``middleware_class(app, **options)``.

        The owner shown by ``chassis stack`` is the plugin whose hook adds it (or ``app``).
        """
        if slot is None:
            slot = slot_of_position(position) if position is not None else DEFAULT_SLOT
        elif position is not None:
            raise TypeError("add_middleware takes a slot or a position, not both")
        self._check_not_started()
        owner = current_owner.get() or APPLICATION
        self.request_path.add(
            middleware_class, slot=slot, order=order, owner=owner, options=options
        )

    def stack(self) -> list[dict[str, Any]]:
        """The request path as it resolves, outermost first: ``name``, ``slot`` and ``owner``
        (``kernel``, ``connexion``, ``app`` or a plugin's name) of each layer."""
        return self.request_path.describe(self._connexion_layers, self._middleware_app)

    def add_api(self, specification: Any, **kwargs: Any) -> Any:
        """Connexion's ``add_api``; handlers are wrapped for ``wrap_response`` if needed."""
        if self._response_hook is not None:
            resolver = kwargs.get("resolver") or self.middleware.options.resolver or Resolver()
            if not isinstance(resolver, Resolver):
                resolver = Resolver(resolver)
            kwargs["resolver"] = WrappingResolver(resolver, self._response_hook)
        if "validator_map" in kwargs:
            kwargs["validator_map"] = validator_map(kwargs["validator_map"])
            if self.plugin_manager.has_plugin("envelope"):
                kwargs["validator_map"] = _envelope.validator_map(kwargs["validator_map"])
        api = super().add_api(specification, **kwargs)
        added = self.middleware.apis[-1]
        # Its paths win over the kernel endpoints' on the service's port (with a warning).
        self._api_precedence.add_api(spec_paths(added))
        for scheme in added.specification.security_schemes.values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
                self.redacted_query_parameters.add(str(scheme.get("name", "")).lower())
        return api

    @property
    def jsonifier(self) -> Jsonifier:
        """The JSON serializer of responses; plugins may replace it in ``configure_app``."""
        jsonifier: Jsonifier = self.middleware.options.jsonifier
        return jsonifier

    @jsonifier.setter
    def jsonifier(self, value: Jsonifier) -> None:
        self.middleware.options.jsonifier = value

    def use_fast_json(self, jsonifier: Jsonifier, flask_provider: Any = None) -> bool:
        """Serialize responses with ``jsonifier`` (and Flask's ``jsonify`` with
        ``flask_provider``), unless the application chose its own: a ``jsonifier=`` given to
        the App, or a Flask JSON provider it sets (then honoured). For plugins (the
        optimizer's orjson); ``False`` when the application's jsonifier is kept."""
        if self.jsonifier is not self._kernel_jsonifier:
            return False
        self._kernel_jsonifier.fast = jsonifier
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.middleware.middleware_stack is None:
            # Connexion builds its stack (and loads the specs' handlers) at the first call:
            # a spec error must stop start-up with its message, not pass for a server that
            # does not support lifespan and then answer every request with a 500.
            try:
                self.middleware.app, self.middleware.middleware_stack = (
                    self.middleware._build_middleware_stack()
                )
            except Exception as error:
                message = f"chassis: the application cannot start: {type(error).__name__}: {error}"
                logger.error("%s", message, exc_info=error)
                await receive()
                await send({"type": "lifespan.startup.failed", "message": message})
                raise
        await super().__call__(scope, receive, send)


def _within(module_name: str, package: str) -> bool:
    return module_name == package or module_name.startswith(package + ".")


def _as_overrides(settings: Settings | Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, Settings):
        return settings.model_dump(exclude_unset=True)
    return dict(settings)


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` under ``base``: what ``base`` says explicitly wins."""
    merged = dict(extra)
    for key, value in base.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(value), merged[key])
        else:
            merged[key] = value
    return merged


def _import(path: str | None, setting: str) -> Any:
    if path is None:
        return None
    try:
        return TypeAdapter(ImportString[Any]).validate_python(path.replace(":", "."))
    except ValidationError as error:
        raise SettingsError(
            f"Invalid settings:\n  CHASSIS_{setting.upper()} ({setting}): cannot import "
            f"{path!r}: {error.errors()[0]['msg']}"
        ) from None
