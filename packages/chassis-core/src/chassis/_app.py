"""``chassis.App``: a ``connexion.FlaskApp`` built from settings and plugins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import werkzeug.exceptions
from connexion import FlaskApp

from ._base import BaseApp, __version__
from ._errors import from_flask_abort
from ._fast_operation import ChassisFlaskASGIApp

__all__ = ["App", "__version__"]


class App(BaseApp, FlaskApp):
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
    :param connexion_kwargs: passed on to ``connexion.FlaskApp`` (``lifespan=`` runs around
        the plugins' ``startup`` and ``shutdown``).
    """

    @property
    def flask_app(self) -> Any:
        return self.app

    def _flask_json_provider(self) -> Any:
        return self.app.json

    def use_fast_json(self, jsonifier: Any, flask_provider: Any = None) -> bool:
        if flask_provider is not None:
            self.app.json = flask_provider
            self._kernel_jsonifier.own_providers.add(id(flask_provider))
        return super().use_fast_json(jsonifier)

    def _adopt_connexion(self) -> None:
        super()._adopt_connexion()
        # Flask's own provider is not the application's choice: compact JSON stays the default.
        self._kernel_jsonifier.own_providers.add(id(self.app.json))
        # Connexion's FlaskApp builds its FlaskASGIApp itself; ours decorates operations once
        # and runs async handlers on the app's event loop.
        self._middleware_app.__class__ = ChassisFlaskASGIApp
        self._middleware_app.handler_loop = self.handler_loop
        self._set_threads(self.settings.threads)

    def _set_threads(self, threads: int) -> None:
        # Connexion's FlaskApp gives a2wsgi 10 threads with no setting (connexion#1979); its
        # executor is the only handle. No thread has started yet, so replacing it is safe.
        wsgi = self._middleware_app.asgi_app
        if getattr(wsgi, "executor", None) is not None and threads != 10:
            wsgi.executor.shutdown(wait=False)
            wsgi.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="WSGI")

    def _http_exception(self, exc: werkzeug.exceptions.HTTPException) -> Any:
        # Connexion registers this method as the Flask app's handler of Werkzeug's errors.
        return from_flask_abort(exc)
