"""Management endpoints (``/info``, ``/loggers``) and the management port.

Both are framework-neutral ASGI layers, so they work the same on ``chassis.App`` and
``chassis.AsyncApp``:

- :class:`ManagementMiddleware` (slot ``probes``, beside the probes) answers ``GET /info``,
  ``GET /loggers``, ``GET /loggers/{name}`` and, when ``CHASSIS_MANAGEMENT__WRITE_ENABLED``
  is on, ``PUT /loggers/{name}`` for a request with the management token (or a bearer JWT
  with ``CHASSIS_MANAGEMENT__SCOPE``, through the ``validate_bearer_token`` hook).
- :class:`ManagementPortMiddleware` (slot ``request``), when ``CHASSIS_MANAGEMENT__PORT`` is
  set: the probes, ``/info``, ``/loggers`` and every path plugins add to
  ``app.management_paths`` (``/metrics``) are served only to connections made to that port,
  and the API only to the others. The port is read from the server's socket
  (``scope["server"]``), which no client header can change.

A path a spec declares is the API's on the service's port, even where a kernel endpoint would
answer it (see ``_kernel_endpoints``).
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from . import _loggers
from ._health import HealthMiddleware
from ._info import InfoReport
from ._json_response import send_json, send_problem
from ._kernel_endpoints import ApiPrecedence, kernel_endpoints
from ._paths import app_path
from ._patterns import PathPatterns
from ._settings import Settings, SettingsError

if TYPE_CHECKING:
    from ._base import BaseApp

logger = logging.getLogger("chassis.management")

_MAX_BODY = 4096
_BEARER = b"bearer "


def add_management_layers(app: BaseApp) -> None:
    """The kernel's probes and management layers, after checking the protection settings."""
    settings = app.settings
    health = settings.health
    _check_protection(app)
    app.management_paths = []
    # Filled by add_api: the layers below let the paths the specs declare through to the API.
    api_first = app._api_precedence = ApiPrecedence(settings)
    app._add_layer(
        HealthMiddleware,
        slot="probes",
        chassis_app=app,
        api_first=api_first,
        liveness_path=health.liveness_path,
        readiness_path=health.readiness_path,
        startup_path=health.startup_path,
        groups_path=health.groups_path,
    )
    if settings.info.enabled or settings.loggers.enabled:
        # The build-info file is read now: a bad one stops start-up, not the first /info.
        report = InfoReport(app) if settings.info.enabled else None
        app._add_layer(
            ManagementMiddleware,
            slot="probes",
            order=10,
            chassis_app=app,
            report=report,
            api_first=api_first,
        )
    if settings.management.port is not None:
        app._add_layer(
            ManagementPortMiddleware,
            slot="request",
            order=100,
            chassis_app=app,
            api_first=api_first,
        )


def _check_protection(app: BaseApp) -> None:
    """Operations that change state are never open by accident: switched on without a token
    or a scope (or with a scope and nothing to check it), start-up stops."""
    management = app.settings.management
    if not management.write_enabled:
        return
    if management.token is None and management.scope is None:
        raise SettingsError(
            "Invalid settings:\n  CHASSIS_MANAGEMENT__WRITE_ENABLED (management.write_enabled): "
            "management operations that change state need protection: set "
            "CHASSIS_MANAGEMENT__TOKEN (a bearer token, 16 characters or more) or "
            "CHASSIS_MANAGEMENT__SCOPE (a scope the auth plugin checks)"
        )
    if management.scope is not None and not _validators(app):
        raise SettingsError(
            "Invalid settings:\n  CHASSIS_MANAGEMENT__SCOPE (management.scope): no plugin "
            "validates bearer tokens (the validate_bearer_token hook): enable the auth plugin "
            "(pip install chassis-auth) or use CHASSIS_MANAGEMENT__TOKEN"
        )


def probe_paths(settings: Settings) -> list[str]:
    """The kernel's probe and management endpoints (``/healthz``, ``/readyz``, ``/startupz``,
    ``/health/*``, ``/info``, ``/loggers/*`` as settings place them), as path patterns: what
    observers and the optimizer leave alone (``exclude_probes``, ``exclude_health``)."""
    exact, prefixes = kernel_management_paths(settings)
    return [*sorted(exact), *(prefix + "*" for prefix in prefixes)]


def _validators(app: BaseApp) -> list[Any]:
    return list(app.plugin_manager.hook.validate_bearer_token.get_hookimpls())


def kernel_management_paths(settings: Settings) -> tuple[set[str], tuple[str, ...]]:
    """The kernel's own management paths: exact ones, and prefixes (``/health/``)."""
    endpoints = kernel_endpoints(settings)
    exact = {endpoint.path for endpoint in endpoints}
    prefixes = tuple(f"{endpoint.path}/" for endpoint in endpoints if endpoint.below)
    return exact, prefixes


class ManagementMiddleware:
    """Answers ``/info`` and ``/loggers``; passes every other request on."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        chassis_app: BaseApp,
        report: InfoReport | None,
        api_first: ApiPrecedence | None = None,
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.api_first = api_first
        settings = chassis_app.settings
        self.report = report
        self.info_path = settings.info.path if report is not None else None
        loggers = settings.loggers.path.rstrip("/")
        self.loggers_path = loggers if settings.loggers.enabled else None
        self.loggers_prefix = f"{loggers}/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = app_path(scope)
        mine = path == self.info_path or (
            self.loggers_path is not None
            and (path == self.loggers_path or path.startswith(self.loggers_prefix))
        )
        if not mine or (self.api_first is not None and self.api_first(scope, path)):
            await self.app(scope, receive, send)
        elif path == self.info_path:
            await self._info(scope, send)
        elif path == self.loggers_path:
            await self._loggers(scope, send, None, receive)
        else:
            await self._loggers(scope, send, path[len(self.loggers_prefix) :], receive)

    async def _info(self, scope: Scope, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _not_allowed(send, method, b"GET, HEAD")
            return
        assert self.report is not None
        await send_json(send, 200, await self.report.body(), head=method == "HEAD")

    async def _loggers(self, scope: Scope, send: Send, name: str | None, receive: Receive) -> None:
        method = scope["method"]
        head = method == "HEAD"
        writable = self.chassis_app.settings.management.write_enabled
        try:
            if method in ("GET", "HEAD"):
                body = _loggers.every_logger() if name is None else _loggers.one_logger(name)
                await send_json(send, 200, body, head=head)
            elif method == "PUT" and name is not None and writable:
                if not await self._authorized(scope, send):
                    return
                request = await _json_body(receive)
                default = self.chassis_app.settings.log_level
                await send_json(send, 200, _loggers.set_level(name, request, default))
            elif method == "PUT" and name is not None:
                await send_problem(
                    send,
                    405,
                    "Method Not Allowed",
                    "Changing log levels is off: CHASSIS_MANAGEMENT__WRITE_ENABLED.",
                    headers=[(b"allow", b"GET, HEAD")],
                )
            else:
                allowed = b"GET, HEAD, PUT" if name is not None and writable else b"GET, HEAD"
                await _not_allowed(send, method, allowed)
        except _loggers.LoggerError as error:
            title = "Not Found" if error.status == 404 else "Bad Request"
            await send_problem(send, error.status, title, error.detail, head=head)

    async def _authorized(self, scope: Scope, send: Send) -> bool:
        """The management token, or a bearer JWT the auth plugin accepts with the scope."""
        management = self.chassis_app.settings.management
        token = _bearer(scope)
        if token is not None and management.token is not None:
            expected = management.token.get_secret_value().encode()
            if hmac.compare_digest(token.encode("utf-8", "surrogateescape"), expected):
                return True
        if token is not None and management.scope is not None:
            status = await self._validate_jwt(token, management.scope)
            if status == 200:
                return True
            if status == 403:
                await send_problem(
                    send,
                    403,
                    "Forbidden",
                    "The credentials do not grant the management scope.",
                    headers=[(b"www-authenticate", b'Bearer error="insufficient_scope"')],
                )
                return False
        challenge = b'Bearer realm="management"' + (b', error="invalid_token"' if token else b"")
        await send_problem(
            send,
            401,
            "Unauthorized",
            "This management operation needs a valid bearer token.",
            headers=[(b"www-authenticate", challenge)],
        )
        return False

    async def _validate_jwt(self, token: str, scope: str) -> int:
        app = self.chassis_app
        try:
            result = app.plugin_manager.hook.validate_bearer_token(
                app=app, token=token, scopes=[scope]
            )
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:
            status = getattr(error, "status", None) or getattr(error, "status_code", None)
            logger.info("management token refused: %r", error)
            return 403 if status == 403 else 401
        return 200 if isinstance(result, dict) else 401


class ManagementPortMiddleware:
    """With a management port: management paths only there, the API only elsewhere."""

    def __init__(
        self, app: ASGIApp, *, chassis_app: BaseApp, api_first: ApiPrecedence | None = None
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.port = chassis_app.settings.management.port
        self.api_first = api_first
        self._matcher: tuple[set[str], tuple[str, ...], PathPatterns] | None = None

    def _is_management(self, scope: Scope, path: str) -> bool:
        if self._matcher is None:  # at the first request: plugins have added their paths
            exact, prefixes = kernel_management_paths(self.chassis_app.settings)
            self._matcher = exact, prefixes, PathPatterns(self.chassis_app.management_paths)
        exact, prefixes, added = self._matcher
        if added(path):
            # A plugin's path (/metrics) stays on the management port: the plugin's own layer
            # would answer it on the service's port in the API's place.
            return True
        if not (path in exact or path.startswith(prefixes)):
            return False
        # A kernel path a spec declares is the API's on the service's port.
        return self.api_first is None or not self.api_first(scope, path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        server = scope.get("server") or (None, None)
        on_port = server[1] == self.port
        if self._is_management(scope, app_path(scope)) == on_port:
            await self.app(scope, receive, send)
            return
        detail = (
            "Only management endpoints are served on this port."
            if on_port
            else "Not found on this port."
        )
        await send_problem(send, 404, "Not Found", detail, head=scope["method"] == "HEAD")


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization" and value[:7].lower() == _BEARER:
            token = value[7:].strip()
            return token.decode("latin-1") if token else None
    return None


async def _json_body(receive: Receive) -> Any:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise _loggers.LoggerError(400, f"The body is larger than {_MAX_BODY} bytes.")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    try:
        return json.loads(b"".join(chunks) or b"null")
    except ValueError:
        raise _loggers.LoggerError(400, "The body is not valid JSON.") from None


async def _not_allowed(send: Send, method: str, allowed: bytes) -> None:
    await send_problem(
        send,
        405,
        "Method Not Allowed",
        f"{method} is not allowed here.",
        headers=[(b"allow", allowed)],
    )
