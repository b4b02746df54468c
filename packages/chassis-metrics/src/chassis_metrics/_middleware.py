"""The ASGI middleware that counts every response and serves ``/metrics``.

Placed before Connexion's ExceptionMiddleware, it sees the final status of every response:
the 400/401/403/404/405 that Connexion's middleware answers and the 500s of its error
handlers included. The route template is read after the inner app has run (the kernel's
route middleware sets it during routing), so labels are bounded by the spec, never by paths.
"""

from __future__ import annotations

import json
from time import perf_counter
from typing import TYPE_CHECKING

import chassis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._constants import METHOD_LABELS, OTHER_METHOD, UNMATCHED_ROUTE
from ._exposition import render

if TYPE_CHECKING:
    from ._exemplars import ExemplarSource
    from ._state import MetricsState

_ALLOWED = b"GET, HEAD"


class MetricsMiddleware:
    """Counts requests by method, route template and status; answers the metrics path."""

    def __init__(
        self, app: ASGIApp, *, state: MetricsState, exemplar: ExemplarSource | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.exemplar = exemplar
        settings = state.settings
        core = state.app.settings
        self.serve_path = settings.path if settings.port is None else None
        excluded = [settings.path, *settings.exclude_paths]
        if settings.exclude_health:
            excluded += chassis.probe_paths(core)
        self.excluded = chassis.PathPatterns(excluded)
        self.metrics = state.metrics
        self.in_progress = state.metrics.in_progress_by_method
        self.port_server = state.port_server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = chassis.app_path(scope)
        if self.excluded(path):
            if path == self.serve_path:
                await self._serve(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        if self.port_server is not None and not self.port_server.tried:
            self.port_server.start()

        method = METHOD_LABELS.get(scope["method"], OTHER_METHOD)
        in_progress = self.in_progress[method]
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress.inc()
        start = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        except Exception as error:
            # Connexion's ExceptionMiddleware answers the application's errors; what reaches
            # here escaped every handler (a broken middleware, a failing error handler).
            route = _route() or UNMATCHED_ROUTE
            self.metrics.count_exception(method, route, error)
            self._observe(method, route, status or 500, perf_counter() - start)
            raise
        else:
            self._observe(
                method, _route() or UNMATCHED_ROUTE, status or 500, perf_counter() - start
            )
        finally:
            in_progress.dec()

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter, histogram = self.metrics.children(method, route, status)
        counter.inc()
        histogram.observe(seconds, self.exemplar() if self.exemplar is not None else None)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await _problem(send, 405, "Method Not Allowed", f"{method} is not allowed here")
            return
        accept = accept_encoding = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
        from starlette.concurrency import run_in_threadpool

        # Collecting reads every worker's files in multiprocess mode: not on the event loop.
        body, headers = await run_in_threadpool(
            render, self.state.exposition, accept, accept_encoding, scope.get("query_string", b"")
        )
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"cache-control", b"no-store"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


def _route() -> str | None:
    context = chassis.current_context
    return context.route if context else None


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    context = chassis.current_context
    if context:
        body.update(context.fields)
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"allow", _ALLOWED),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
