"""Refuses requests the stack below would choke on, with problem+json instead of a 500:

- a body over ``CHASSIS_MAX_BODY_BYTES`` (413);
- a path over ``CHASSIS_MAX_PATH_BYTES`` (414: beyond 4,300 digits, an integer path
  parameter makes Starlette's router raise);
- a query string or a JSON body that is not UTF-8 (400: Starlette's URL and Connexion's JSON
  validator decode them without catching the error). uvicorn refuses such query strings
  itself; other servers pass them on.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODYLESS = frozenset(("GET", "HEAD", "OPTIONS"))


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
        _require_utf8(scope.get("query_string", b""), "The query string is not valid UTF-8.")
        declared: int | None = None
        is_json = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise HTTPException(400, "Content-Length is not a number") from None
            elif name == b"content-type":
                is_json = b"json" in value.split(b";", 1)[0].lower()
        if declared is not None and self.max_bytes is not None and declared > self.max_bytes:
            raise self._too_large()
        unsized = declared is None and scope.get("method") not in _BODYLESS
        if is_json or (unsized and self.max_bytes is not None):
            # Read now (JSON bodies are read whole by validation anyway), check, replay.
            receive = await self._buffered(receive, check_utf8=is_json)
        await self.app(scope, receive, send)

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"The request body is larger than {self.max_bytes} bytes.")

    async def _buffered(self, receive: Receive, *, check_utf8: bool) -> Receive:
        """Read the body here, up to the limit, then replay it: refusing a body once the
        application has started reading it could not be a clean 413 or 400."""
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if self.max_bytes is not None and received > self.max_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                break
        if check_utf8:
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
            _require_utf8(body, "The request body is not valid UTF-8.")

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay


def _require_utf8(data: bytes, detail: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, detail) from None
