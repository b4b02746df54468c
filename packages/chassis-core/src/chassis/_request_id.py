"""The outermost middleware: request id in and out, the request context."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._context import RequestContext, reset_context, set_context
from ._last_resort import guarded

if TYPE_CHECKING:
    from ._base import BaseApp

# 1 to 128 letters, digits and ``- _ . ~ : / + = @``: every common id format (UUIDs, ULIDs,
# base64, W3C trace ids), and nothing that could pass for a log field (brackets, quotes,
# spaces) or a header of its own.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._~:/+=@-]{1,128}")

_CLOSE = (b"connection", b"close")


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Reads or makes the request id, sets :data:`chassis.current_context`, echoes the id.

    Placed before Connexion's ExceptionMiddleware, so every response carries the id: the
    400/401/404/405 of Connexion's middleware and 500s included (an exception that escapes
    everything inside is answered with a problem+json 500 here too).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        chassis_app: BaseApp | None = None,
        header: str = "X-Request-ID",
        context_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.header = header.lower().encode("latin-1")
        self.context_factory = context_factory

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Servers (uvicorn) may send no "extensions"; Connexion's routing works on a shallow
        # copy of the scope, so without a shared dict here its routing and security details
        # would never reach the outer middleware or current_context.
        scope.setdefault("extensions", {})
        request_id = self._incoming_id(scope) or new_request_id()
        context = RequestContext(request_id, scope, self.chassis_app)
        if self.context_factory is not None:
            context.custom = self.context_factory()
        token = set_context(context)
        id_header = (self.header, request_id.encode("ascii"))
        chassis_app = self.chassis_app

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != self.header]
                headers.append(id_header)
                if chassis_app is not None and chassis_app.draining:
                    headers.append(_CLOSE)  # shutting down: clients should reconnect elsewhere
                message["headers"] = headers
            await send(message)

        try:
            await guarded(self.app, scope, receive, send_with_id)
        finally:
            reset_context(token)

    def _incoming_id(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == self.header:
                if _VALID_REQUEST_ID.fullmatch(value):
                    return str(value.decode("ascii"))
                return None
        return None
