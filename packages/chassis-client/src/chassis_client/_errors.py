"""What a refused or expired call raises, and the problem+json answers the plugin gives them."""

from __future__ import annotations

import math
from typing import Any

import httpx


class ServiceUnavailable(httpx.TransportError):
    """A call to a downstream service was refused without being sent: its circuit breaker is
    open (or its trial calls are taken). Unhandled in a view, it is a 503 problem+json naming
    the service, with ``Retry-After``.

    A subclass of ``httpx.TransportError``, so ``except httpx.HTTPError`` still catches it.

    :ivar service: the service's name.
    :ivar retry_after: seconds until the breaker lets a trial call through.
    """

    def __init__(
        self, service: str, retry_after: float, *, request: httpx.Request | None = None
    ) -> None:
        self.service = service
        self.retry_after = max(0.0, retry_after)
        super().__init__(
            f"service {service!r} is unavailable: its circuit breaker is open "
            f"(next trial in {self.retry_after:.1f} s)",
            request=request,
        )


class DeadlineExceeded(httpx.TimeoutException):
    """The time a call had (the service's total timeout, or what remained of the incoming
    request's budget) ran out before an answer. Unhandled in a view, it is a 504 problem+json
    naming the service. A subclass of ``httpx.TimeoutException``.

    :ivar service: the service's name.
    """

    def __init__(self, service: str, *, request: httpx.Request | None = None) -> None:
        self.service = service
        super().__init__(f"no time left for a call to service {service!r}", request=request)


def handle_unavailable(request: Any, exc: ServiceUnavailable) -> Any:
    import chassis

    return chassis.problem_response(
        503,
        "Service Unavailable",
        f"The downstream service {exc.service!r} is unavailable; try again later.",
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        service=exc.service,
    )


def handle_deadline(request: Any, exc: DeadlineExceeded) -> Any:
    import chassis

    return chassis.problem_response(
        504,
        "Gateway Timeout",
        f"The downstream service {exc.service!r} did not answer in time.",
        service=exc.service,
    )


SERVICE_EXTENSION = "chassis_client.service"
"""Set on every request a service's client sends: the service's name."""


def handle_transport_error(request: Any, exc: httpx.TransportError) -> Any:
    """A call to a service that failed after its retries: 504 for a time-out, 502 otherwise,
    naming the service. An httpx error of the application's own clients stays a 500."""
    import logging

    import chassis

    service = getattr(exc, "service", None)  # TokenError
    if service is None:
        try:
            service = exc.request.extensions.get(SERVICE_EXTENSION)
        except RuntimeError:  # no request attached
            service = None
    if service is None:
        logging.getLogger("chassis.errors").error(
            "unhandled %s in %s %s",
            type(exc).__name__,
            request.scope.get("method"),
            request.scope.get("path"),
            exc_info=exc,
        )
        return chassis.problem_response(500, "Internal Server Error")
    if isinstance(exc, httpx.TimeoutException):
        return chassis.problem_response(
            504,
            "Gateway Timeout",
            f"The downstream service {service!r} did not answer in time.",
            service=service,
        )
    logging.getLogger("chassis_client").warning(
        "call to service %r failed: %s: %s", service, type(exc).__name__, exc
    )
    return chassis.problem_response(
        502,
        "Bad Gateway",
        f"The downstream service {service!r} could not be reached.",
        service=service,
    )
