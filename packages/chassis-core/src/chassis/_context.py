"""The per-request context: request id, operation, user, and what plugins attach.

One :class:`RequestContext` per request, created by the outermost ASGI middleware and kept in
a ContextVar. a2wsgi copies context variables into the thread that runs a Flask view, so the
same object is reached from ASGI middleware, async code and Flask views alike.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from starlette.types import Scope

    from ._base import BaseApp as App

_current: ContextVar[RequestContext] = ContextVar("chassis_request_context")


class RequestContext:
    """What is known about the request being served.

    ``fields`` holds correlation identifiers (``request_id``, and ``trace_id``/``span_id`` with
    the tracing plugin) that go into every log line and every problem+json error body.
    ``custom`` is an instance of the ``context_class`` setting (Flask-Context's context
    object), or ``None``. ``state`` is a dict for plugins and application code. ``error`` is
    the unexpected exception that the kernel answered with a 500 (for observers: tracing
    records it on the span), else ``None``.
    """

    __slots__ = ("_scope", "app", "custom", "error", "fields", "state")

    def __init__(self, request_id: str, scope: Scope, app: App | None = None) -> None:
        self._scope = scope
        self.app = app
        self.fields: dict[str, str] = {"request_id": request_id}
        self.state: dict[str, Any] = {}
        self.custom: Any = None
        self.error: BaseException | None = None

    @property
    def scope(self) -> Scope:
        """The ASGI scope of the request (shared with Connexion's middleware)."""
        return self._scope

    @property
    def request_id(self) -> str:
        return self.fields["request_id"]

    @property
    def operation_id(self) -> str | None:
        """Connexion's operation id, once the request has been routed to an operation."""
        routing = self._scope.get("extensions", {}).get("connexion_routing", {})
        operation_id: str | None = routing.get("operation_id")
        return operation_id

    @property
    def route(self) -> str | None:
        """The matched route template with the API's base path (``/v1/premises/{id}``), or
        ``None`` when the request matched no operation of the spec."""
        route: str | None = self._scope.get("extensions", {}).get("chassis_route")
        return route

    @property
    def _connexion_context(self) -> dict[str, Any]:
        context: dict[str, Any] = self._scope.get("extensions", {}).get("connexion_context", {})
        return context

    @property
    def user(self) -> Any:
        """The authenticated user (``sub`` of the token) set by Connexion's security."""
        return self._connexion_context.get("user")

    @property
    def token_info(self) -> Any:
        """What the security function returned for the request's credentials."""
        return self._connexion_context.get("token_info")

    @property
    def path(self) -> str:
        path: str = self._scope.get("path", "")
        return path

    @property
    def method(self) -> str:
        method: str = self._scope.get("method", "")
        return method

    def __repr__(self) -> str:
        return f"<RequestContext {self.fields} operation={self.operation_id!r}>"


def get_context() -> RequestContext | None:
    """The current request's context, or ``None`` outside a request."""
    return _current.get(None)


def set_context(context: RequestContext) -> object:
    return _current.set(context)


def reset_context(token: Any) -> None:
    _current.reset(token)


class _CurrentContext:
    """A proxy to the current :class:`RequestContext`; raises outside a request."""

    __slots__ = ()

    def _get(self) -> RequestContext:
        context = _current.get(None)
        if context is None:
            raise RuntimeError(
                "chassis.current_context used outside a request: it is set for each request "
                "by the chassis App's middleware"
            )
        return context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def __bool__(self) -> bool:
        return _current.get(None) is not None

    def __repr__(self) -> str:
        context = _current.get(None)
        return repr(context) if context is not None else "<current_context: no request>"


current_context: RequestContext = cast("RequestContext", _CurrentContext())
"""The current request's :class:`RequestContext` (Flask-Context's ``current_context``)."""
