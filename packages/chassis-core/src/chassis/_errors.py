"""The kernel's error handlers: every error leaves as problem+json with the request id."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import werkzeug.exceptions
from connexion.exceptions import ProblemException
from connexion.http_facts import HTTP_STATUS_CODES
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ._allow import AllowedMethods
from ._context import get_context
from ._paths import app_path
from ._problem import GENERIC_500_DETAIL, problem_response
from ._validation import with_invalid_params

if TYPE_CHECKING:
    from ._base import BaseApp as App

logger = logging.getLogger("chassis.errors")

ErrorHandler = Callable[..., Any]


def _title(status: int) -> str:
    return str(HTTP_STATUS_CODES.get(status, "Error"))


def handle_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own problems (validation, security, ...): keep their title and detail."""
    status: int = exc.status
    _log_http(request, status, exc.detail)
    detail: str | None
    if status >= 500:
        detail = GENERIC_500_DETAIL
    else:
        detail = exc.detail if isinstance(exc.detail, str) else None
    extensions = with_invalid_params(exc, exc.detail) if status == 400 else dict(exc.ext or {})
    if exc.instance:
        extensions["instance"] = exc.instance
    return problem_response(
        status,
        exc.title or _title(status),
        detail,
        type=exc.type or "about:blank",
        headers=exc.headers,
        **extensions,
    )


def http_handler(allowed: AllowedMethods) -> Callable[[ConnexionRequest, HTTPException], Any]:
    """Starlette's and Werkzeug's HTTP errors (404 of an unknown route, 405, abort(...)); a
    405 of Connexion's routing says every method of the path."""

    def handle_http(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        status = exc.status_code
        _log_http(request, status, exc.detail)
        detail = exc.detail if status < 500 and exc.detail != _title(status) else None
        headers = dict(exc.headers or {})
        if status == 405:
            allow = allowed.of(app_path(request.scope), request.scope.get("method", ""))
            if allow is not None:
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
                headers["Allow"] = allow
        return problem_response(status, _title(status), detail, headers=headers)

    return handle_http


def from_flask_abort(exc: werkzeug.exceptions.HTTPException) -> Any:
    """Flask's ``abort(...)`` and Werkzeug's HTTP errors raised in a view, for the handlers above.

    Replaces Connexion's converter, which keeps only status and description: the headers the
    exception carries (``Allow``, ``Retry-After``, ``WWW-Authenticate``) go out too, and
    ``abort(response)`` sends that response as it is.
    """
    if exc.response is not None:
        return exc.response
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    raise HTTPException(exc.code or 500, detail=exc.description, headers=headers)


def handle_unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Anything else: a generic 500; the stack trace goes to the log, never to the client."""
    _remember(exc)
    # The scope, not request.url: building the URL can itself fail on a malformed request.
    logger.error(
        "unhandled %s in %s %s",
        type(exc).__name__,
        request.scope.get("method"),
        request.scope.get("path"),
        exc_info=exc,
    )
    return problem_response(500, _title(500), GENERIC_500_DETAIL)


def _remember(exc: Exception) -> None:
    """Keep the exception on the request's context, where observers (tracing) find it: the
    handler runs inside their layers, and under either app class."""
    context = get_context()
    if context is not None:
        context.error = exc


def _log_http(request: ConnexionRequest, status: int, detail: Any) -> None:
    level = logging.ERROR if status >= 500 else logging.INFO
    scope = request.scope
    logger.log(
        level, "%s %s -> %d %s", scope.get("method"), scope.get("path"), status, detail or ""
    )


def custom_handler(handler: ErrorHandler) -> Callable[[ConnexionRequest, Exception], Any]:
    """Adapt a user's handler (``handler(request, exc)`` or connexion-plus's ``handler(exc)``).

    It may return a ``ConnexionResponse``, a ``(body, status[, headers])`` tuple or a dict
    (sent as problem+json with its ``status``). If it fails, the default 500 is sent.
    """
    try:
        takes_request = len(inspect.signature(handler).parameters) >= 2
    except (TypeError, ValueError):
        takes_request = True

    def adapted(request: ConnexionRequest, exc: Exception) -> Any:
        _remember(exc)
        try:
            result = handler(request, exc) if takes_request else handler(exc)
            return _to_response(result)
        except Exception as error:
            logger.error("the custom error handler failed", exc_info=error)
            return handle_unexpected(request, exc)

    return adapted


def _to_response(result: Any) -> ConnexionResponse:
    if isinstance(result, ConnexionResponse):
        return result
    headers: dict[str, str] = {}
    if isinstance(result, tuple):
        body, status, *rest = result
        if rest:
            headers = dict(rest[0])
    else:
        body, status = result, 500
    if isinstance(body, dict):
        status = int(body.get("status") or status)
        extensions = {k: v for k, v in body.items() if k not in ("status", "title", "detail")}
        return problem_response(
            status,
            str(body.get("title", _title(status))),
            body.get("detail"),
            headers=headers,
            **extensions,
        )
    return ConnexionResponse(status_code=int(status), body=body, headers=headers)


def register_kernel_handlers(app: App, handler: ErrorHandler | None) -> None:
    app.add_error_handler(ProblemException, handle_problem)
    app.add_error_handler(HTTPException, http_handler(AllowedMethods(lambda: app.middleware.apis)))
    app.add_error_handler(Exception, custom_handler(handler) if handler else handle_unexpected)
