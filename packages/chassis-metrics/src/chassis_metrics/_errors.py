"""Counting the exceptions that fall through to the catch-all (``Exception``) error handler.

Connexion's ExceptionMiddleware turns an exception raised by a view into a 500 response
before the metrics middleware sees it, so the middleware alone would only see a status.
The handler registered for ``Exception`` (the kernel's, or the ``error_handler`` setting's)
is wrapped to count the exception first, with the request's method and route template.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import chassis

from ._constants import UNMATCHED_ROUTE

if TYPE_CHECKING:
    from ._state import RequestMetrics

logger = logging.getLogger("chassis.metrics")


def wrap_catch_all(app: chassis.BaseApp, metrics: RequestMetrics) -> bool:
    """Re-register the current ``Exception`` handler wrapped so that it counts; ``False``
    when there is none to wrap."""
    handlers: list[tuple[Any, Any]] = getattr(app.middleware, "error_handlers", [])
    current = next((fn for key, fn in reversed(handlers) if key is Exception), None)
    if current is None:
        logger.warning("no error handler for Exception: unhandled exceptions are not counted")
        return False
    app.add_error_handler(Exception, _counting(current, metrics))
    return True


def _counting(handler: Callable[..., Any], metrics: RequestMetrics) -> Callable[..., Any]:
    def count(request: Any, exc: Exception) -> None:
        try:
            context = chassis.current_context
            route = (context.route if context else None) or UNMATCHED_ROUTE
            metrics.count_exception(request.method, route, exc)
        except Exception:  # counting must never change the response
            logger.debug("could not count an exception", exc_info=True)

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def counted_async(request: Any, exc: Exception) -> Any:
            count(request, exc)
            return await handler(request, exc)

        return counted_async

    @functools.wraps(handler)
    def counted(request: Any, exc: Exception) -> Any:
        count(request, exc)
        return handler(request, exc)

    return counted
