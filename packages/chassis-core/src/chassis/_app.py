"""``chassis.App``: a ``connexion.FlaskApp`` built from settings and plugins."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pluggy
import werkzeug.exceptions
from connexion import FlaskApp
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver
from pydantic import ImportString, TypeAdapter, ValidationError

from . import _envelope
from ._database import DatabaseCheck
from ._errors import from_flask_abort, register_kernel_handlers
from ._fast_operation import ChassisFlaskASGIApp
from ._health import HealthChecks, HealthMiddleware
from ._last_resort import LastResortMiddleware
from ._lifespan import LifespanMiddleware
from ._limits import RequestLimitsMiddleware
from ._loader import load_plugins
from ._logging import access_log_redactor, configure_logging
from ._operations import prefer_success_content_types
from ._plugins import PluginInfo, call_each
from ._request_id import RequestContextMiddleware
from ._responses import ResponseHook, WrappingResolver
from ._route import RouteMiddleware
from ._settings import Settings, SettingsError

logger = logging.getLogger("chassis")

try:
    __version__ = version("chassis-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0"


class App(FlaskApp):
    """A Connexion ``FlaskApp`` configured by settings and extended by plugins.

    :param import_name: as for Flask and Connexion, usually ``__name__``.
    :param settings: a :class:`chassis.Settings` or a mapping of settings; these win over the
        environment, ``.env`` and the ``CHASSIS_CONFIG`` TOML file.
    :param plugins: plugin objects (modules or instances with ``@chassis.hookimpl``
        functions), a list or a ``{name: plugin}`` mapping, registered after the installed
        plugins that settings enable.
    :param use_tracer: connexion-plus: ``True``/``False`` switches the tracing plugin; a
        tracer or tracer provider object is handed to it (``app.extras["tracer"]``).
    :param use_metric: connexion-plus: switches the metrics plugin.
    :param use_optimizer: connexion-plus: switches the optimizer plugin (a dict: its settings).
    :param use_cors: connexion-plus: ``True`` turns CORS on, for every origin unless
        ``cors.allow_origins`` says otherwise.
    :param use_default_handler: connexion-plus: a callable replaces the default handler of
        unhandled exceptions (``handler(exc)`` or ``handler(request, exc)``).
    :param use_logging_level: connexion-plus: the level from which log records become span
        events (tracing plugin).
    :param connexion_kwargs: passed on to ``connexion.FlaskApp``.
    """

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

        overrides = _merge(
            _as_overrides(settings),
            self._connexion_plus_overrides(
                use_tracer,
                use_metric,
                use_optimizer,
                use_cors,
                use_default_handler,
                use_logging_level,
            ),
        )
        loaded = load_plugins(overrides, plugins)
        self.plugin_manager: pluggy.PluginManager = loaded.manager
        self.plugin_infos: dict[str, PluginInfo] = loaded.infos
        self.settings: Settings = loaded.settings
        if self.settings.envelope.enabled:
            self.plugin_manager.register(_envelope, name="envelope")
            connexion_kwargs["validator_map"] = _envelope.validator_map(
                connexion_kwargs.get("validator_map")
            )
        if self.settings.health.database_url is not None:
            self.plugin_manager.register(
                DatabaseCheck(self.settings.health.database_url.get_secret_value()),
                name="database",
            )

        connexion_kwargs.setdefault("jsonifier", _jsonifier(self.settings.json_indent))
        super().__init__(import_name, **connexion_kwargs)
        # Connexion's FlaskApp builds its FlaskASGIApp itself; ours only decorates once.
        self._middleware_app.__class__ = ChassisFlaskASGIApp
        self._set_threads(self.settings.threads)
        self._mend_content_type_inference()
        configure_logging(self.settings.log_level, self.settings.log_format)

        self.health = HealthChecks(self, self.settings.health.timeout)
        self.cors_expose_headers: list[str] = list(
            dict.fromkeys([*self.settings.cors.expose_headers, self.settings.request_id_header])
        )
        """Response headers CORS exposes to browsers; plugins append theirs in configure_app."""
        self._response_hook = (
            ResponseHook(self.plugin_manager.hook.wrap_response)
            if self.plugin_manager.hook.wrap_response.get_hookimpls()
            else None
        )
        self._add_kernel_middleware()
        call_each(self.plugin_manager, "configure_app", app=self, settings=self.settings)
        register_kernel_handlers(self, self._custom_error_handler())
        call_each(self.plugin_manager, "register_error_handlers", app=self)
        self._log_active_plugins()

    # -- construction -------------------------------------------------------------------

    def _connexion_plus_overrides(
        self,
        use_tracer: Any,
        use_metric: Any,
        use_optimizer: Any,
        use_cors: Any,
        use_default_handler: Any,
        use_logging_level: Any,
    ) -> dict[str, Any]:
        """Map connexion-plus's keywords onto settings, so moving over is one import."""
        mapped: dict[str, Any] = {}
        if use_tracer is not None:
            mapped["tracing"] = {"enabled": bool(use_tracer)}
            if not isinstance(use_tracer, bool):
                self.extras["tracer"] = use_tracer
        if use_metric is not None:
            mapped["metrics"] = {"enabled": bool(use_metric)}
            if not isinstance(use_metric, bool):
                self.extras["metrics"] = use_metric
        if use_optimizer is not None:
            if isinstance(use_optimizer, Mapping):
                mapped["optimizer"] = {**use_optimizer, "enabled": True}
            else:
                mapped["optimizer"] = {"enabled": bool(use_optimizer)}
        if use_cors is not None:
            mapped["cors"] = {"enabled": bool(use_cors)}
            if use_cors is True:
                mapped["cors"]["allow_origins"] = ["*"]
        if callable(use_default_handler):
            self.extras["error_handler"] = use_default_handler
        if use_logging_level is not None:
            level = (
                logging.getLevelName(use_logging_level)
                if isinstance(use_logging_level, int)
                else str(use_logging_level).upper()
            )
            mapped.setdefault("tracing", {})["log_level"] = level
        return mapped

    def _mend_content_type_inference(self) -> None:
        build = self.middleware._build_middleware_stack

        def build_then_mend() -> Any:
            app, stack = build()
            prefer_success_content_types(stack)
            return app, stack

        self.middleware._build_middleware_stack = build_then_mend

    def _set_threads(self, threads: int) -> None:
        # Connexion's FlaskApp gives a2wsgi 10 threads with no setting (connexion#1979); its
        # executor is the only handle. No thread has started yet, so replacing it is safe.
        wsgi = self._middleware_app.asgi_app
        if getattr(wsgi, "executor", None) is not None and threads != 10:
            wsgi.executor.shutdown(wait=False)
            wsgi.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="WSGI")

    def _add_kernel_middleware(self) -> None:
        settings = self.settings
        self.add_middleware(
            RequestContextMiddleware,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            chassis_app=self,
            header=settings.request_id_header,
            context_factory=_import(settings.context_class, "context_class"),
        )
        self.add_middleware(
            LifespanMiddleware,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            chassis_app=self,
            checks=self.health,
            drain_seconds=settings.shutdown.drain_seconds,
        )
        if settings.cors.enabled:
            from starlette.middleware.cors import CORSMiddleware

            cors = settings.cors
            self.add_middleware(
                CORSMiddleware,
                position=MiddlewarePosition.BEFORE_EXCEPTION,
                allow_origins=cors.allow_origins,
                allow_origin_regex=cors.allow_origin_regex,
                allow_methods=cors.allow_methods,
                allow_headers=cors.allow_headers,
                allow_credentials=cors.allow_credentials,
                # The same list object: Connexion builds middleware at the first request, so
                # headers that plugins append in configure_app are exposed too.
                expose_headers=self.cors_expose_headers,
                max_age=cors.max_age,
            )
        # Inside CORS: a 500 for an exception that escaped the handlers carries CORS headers.
        self.add_middleware(LastResortMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)
        self.add_middleware(
            RequestLimitsMiddleware,
            position=MiddlewarePosition.BEFORE_SWAGGER,
            max_bytes=settings.max_body_bytes,
            max_path_bytes=settings.max_path_bytes,
        )
        self.add_middleware(RouteMiddleware, position=MiddlewarePosition.BEFORE_SECURITY)
        self.add_middleware(
            HealthMiddleware,
            position=MiddlewarePosition.BEFORE_SWAGGER,
            checks=self.health,
            liveness_path=settings.health.liveness_path,
            readiness_path=settings.health.readiness_path,
        )

    def _custom_error_handler(self) -> Any:
        return self.extras.get("error_handler") or _import(
            self.settings.error_handler, "error_handler"
        )

    def _log_active_plugins(self) -> None:
        active = [
            f"{info.name} ({info.origin})" for info in self.plugin_infos.values() if info.enabled
        ]
        logger.info(
            "%s %s on chassis %s; plugins: %s",
            self.settings.service_name,
            self.settings.service_version,
            __version__,
            ", ".join(active) or "none",
        )

    def _http_exception(self, exc: werkzeug.exceptions.HTTPException) -> Any:
        # Connexion registers this method as the Flask app's handler of Werkzeug's errors.
        return from_flask_abort(exc)

    # -- public API ---------------------------------------------------------------------

    @property
    def active_plugins(self) -> list[PluginInfo]:
        """The plugins in use, in registration order."""
        return [info for info in self.plugin_infos.values() if info.enabled]

    def add_api(self, specification: Any, **kwargs: Any) -> Any:
        """``connexion.FlaskApp.add_api``; handlers are wrapped for ``wrap_response`` if needed."""
        if self._response_hook is not None:
            resolver = kwargs.get("resolver") or self.middleware.options.resolver or Resolver()
            if not isinstance(resolver, Resolver):
                resolver = Resolver(resolver)
            kwargs["resolver"] = WrappingResolver(resolver, self._response_hook)
        if "validator_map" in kwargs and self.settings.envelope.enabled:
            kwargs["validator_map"] = _envelope.validator_map(kwargs["validator_map"])
        api = super().add_api(specification, **kwargs)
        for scheme in self.middleware.apis[-1].specification.security_schemes.values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
                access_log_redactor.parameters.add(str(scheme.get("name", "")).lower())
        return api

    @property
    def jsonifier(self) -> Jsonifier:
        """The JSON serializer of responses; plugins may replace it in ``configure_app``."""
        jsonifier: Jsonifier = self.middleware.options.jsonifier
        return jsonifier

    @jsonifier.setter
    def jsonifier(self, value: Jsonifier) -> None:
        self.middleware.options.jsonifier = value


def _jsonifier(indent: int | None) -> Jsonifier:
    # Connexion's FlaskApp default (flask.json, indent=2) forces the pure-Python encoder.
    if indent is None:
        return Jsonifier(json, separators=(",", ":"))
    return Jsonifier(json, indent=indent)


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
