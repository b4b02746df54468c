"""A problem+json 500 for an exception that escaped every error handler."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._problem import problem_body

logger = logging.getLogger("chassis.errors")


class LastResortMiddleware:
    """Answers an exception that escaped the inner stack (a broken middleware, a failing error
    handler) with a problem+json 500, and logs it.

    Placed just inside CORS, so even that 500 carries the CORS headers a browser needs to
    show it; the request-context middleware outside it guards the few layers left.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await guarded(self.app, scope, receive, send)


async def guarded(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app``; if it raises, log it and, unless its response started, send a 500."""
    started = False

    async def watched(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, receive, watched)
    except Exception:
        logger.exception("unhandled error outside the application's error handlers")
        if started:  # too late for a status: the server ends the incomplete response
            return
        body = problem_body(500, "Internal Server Error", None)
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
