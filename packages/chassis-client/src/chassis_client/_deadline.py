"""The time a request has left, from the caller's deadline header or the application.

The remaining budget travels in a context variable: set by :class:`DeadlineMiddleware` from
the incoming request's header (milliseconds, as Envoy's ``x-envoy-expected-rq-timeout-ms``
and gRPC's ``grpc-timeout`` carry it: relative, so clocks need not agree), narrowed by
:func:`deadline` in application code, and read by every outgoing call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_deadline: ContextVar[float | None] = ContextVar("chassis_client_deadline", default=None)


def current_deadline() -> float | None:
    """The deadline in force (``time.monotonic()`` seconds), or ``None``."""
    return _deadline.get()


def remaining() -> float | None:
    """Seconds left of the current request's budget, or ``None`` when it has none."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Calls made inside the block share a budget of ``seconds`` (never more than the
    budget already in force); yields the deadline (``time.monotonic()`` seconds).

    Example::

        with chassis_client.deadline(0.8):
            quote = chassis_client.client("pricing").get("/quote").json()
            stock = chassis_client.client("stock").get("/level").json()
    """
    end = time.monotonic() + seconds
    current = _deadline.get()
    if current is not None and current < end:
        end = current
    token = _deadline.set(end)
    try:
        yield end
    finally:
        _deadline.reset(token)


def parse_budget(value: bytes) -> float | None:
    """Milliseconds as a non-negative integer, else ``None`` (the header is ignored)."""
    text = value.strip()
    if not text.isdigit() or len(text) > 12:
        return None
    return int(text) / 1000.0


class DeadlineMiddleware:
    """Reads the caller's budget from the deadline header of each incoming request."""

    def __init__(self, app: Any, header: str) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == self.header:
                budget = parse_budget(value)
                if budget is not None:
                    token = _deadline.set(time.monotonic() + budget)
                    try:
                        await self.app(scope, receive, send)
                    finally:
                        _deadline.reset(token)
                    return
                break
        await self.app(scope, receive, send)
