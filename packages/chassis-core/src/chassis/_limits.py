"""Refuses oversized requests with problem+json: a body over ``CHASSIS_MAX_BODY_BYTES`` (413),
a path over ``CHASSIS_MAX_PATH_BYTES`` (414: beyond 4,300 digits, an integer path parameter
would make Starlette's router fail with a 500)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestLimitsMiddleware:
    """Checks the path and ``Content-Length`` up front; reads a chunked body up to the limit.

    Placed inside Connexion's ExceptionMiddleware, so the 413/414 leave as problem+json.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int | None, max_path_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_path_bytes = max_path_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
        if len(path) > self.max_path_bytes:
            raise HTTPException(414, f"The path is longer than {self.max_path_bytes} bytes.")
        if self.max_bytes is None:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise HTTPException(400, "Content-Length is not a number") from None
                if declared > self._limit:
                    raise self._too_large()
                await self.app(scope, receive, send)
                return
        await self.app(scope, await self._buffered(receive), send)

    @property
    def _limit(self) -> int:
        assert self.max_bytes is not None
        return self.max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"The request body is larger than {self.max_bytes} bytes.")

    async def _buffered(self, receive: Receive) -> Receive:
        """A body of unknown length (chunked) is read here, up to the limit, then replayed:
        refusing it once the application has started reading it could not be a clean 413."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self._limit:
                raise self._too_large()
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay
