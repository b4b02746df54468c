"""The outer middleware: HTML minification, ETag and 304, Cache-Control, compression.

Placed before Connexion's ExceptionMiddleware, so it sees every final response (problem+json
errors included) and Connexion's response validation sees the body uncompressed.

A response is buffered only when it declares its ``Content-Length`` (at most
``compress_max_size``) and something needs its body. A response without ``Content-Length`` is a
stream (a generator, server-sent events, a large file): it passes through chunk by chunk,
untouched but for ``Cache-Control``, never compressed, so streams keep their latency.

A HEAD is answered with the header fields of the GET response (RFC 9110 §9.3.2): the layers
inside run it as a GET (the routed middleware turns it into one for a GET operation), this
middleware works on the GET response as it would for a GET (ETag, 304, minification,
compression, ``Content-Length`` of the encoded body) and drops the body at the end. A body
it would not buffer is never produced: Flask answers such a response as a HEAD
(:func:`drop_unbuffered_head_bodies`). A HEAD answered without its body (a HEAD operation
of the spec, a static file) goes out as it came, but for ``Cache-Control`` and a 304.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chassis import app_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._cache import body_etag, is_weak
from ._http import (
    Headers,
    add_vary,
    cache_directives,
    choose_encoding,
    etag_matches,
    header,
    media_type,
    opaque_tag,
    without,
)
from ._policy import RoutePolicy
from ._state import (
    HEAD_KEY,
    STATE_KEY,
    Optimizer,
    RequestState,
    current_request_id,
    request_state,
)

logger = logging.getLogger("chassis.optimizer")

_NO_BODY_STATUSES = frozenset({204, 304})
_NOT_MODIFIED_DROPS = (
    b"content-length",
    b"content-type",
    b"content-encoding",
    b"transfer-encoding",
    b"content-range",
    b"content-md5",
)


class OptimizerMiddleware:
    """Compression, minification and HTTP caching for every response of the app."""

    def __init__(self, app: ASGIApp, *, optimizer: Optimizer) -> None:
        self.app = app
        self.optimizer = optimizer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.optimizer.excluded(app_path(scope)):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            scope["extensions"][HEAD_KEY] = True
        responder = _Responder(self.optimizer, scope, send)
        await self.app(scope, receive, responder.send)
        if responder.mode == "swallow" and not responder.ended:
            # A HEAD whose stream was stopped before its end (see _routes): end it here.
            await responder.send_next({"type": "http.response.body", "body": b""})


class _Request:
    """The request headers the optimizer reads, in one pass."""

    __slots__ = ("accept_encoding", "headers", "if_none_match")

    def __init__(self, scope: Scope) -> None:
        self.headers: list[tuple[bytes, bytes]] = scope.get("headers") or []
        self.accept_encoding: str | None = None
        self.if_none_match: str | None = None
        for name, value in self.headers:
            if name == b"accept-encoding":
                self.accept_encoding = value.decode("latin-1")
            elif name == b"if-none-match":
                self.if_none_match = value.decode("latin-1")

    def has_any(self, names: tuple[str, ...]) -> bool:
        wanted = {name.encode("latin-1") for name in names}
        return any(name.lower() in wanted for name, _ in self.headers)


class _Responder:
    """Follows one response through ``send``."""

    __slots__ = (
        "buffer",
        "buffered",
        "compressible",
        "declared",
        "ended",
        "head",
        "headers",
        "method",
        "minify_html",
        "mode",
        "optimizer",
        "policy",
        "request",
        "scope",
        "send_next",
        "start",
        "state",
    )

    def __init__(self, optimizer: Optimizer, scope: Scope, send: Send) -> None:
        self.optimizer = optimizer
        self.scope = scope
        self.send_next = send
        self.mode = "start"
        self.start: Message = {}
        self.headers: Headers = []
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.compressible = False
        self.minify_html = False
        self.policy: RoutePolicy = optimizer.default_policy
        self.state: RequestState | None = None
        self.request: _Request | None = None
        self.head = scope["method"] == "HEAD"
        self.method: str = "GET" if self.head else scope["method"]
        """The method whose response is sent: a HEAD gets the header fields of GET."""
        self.declared = 0
        """The ``Content-Length`` of a buffered response."""
        self.ended = False
        """The last body message went out."""

    # -- send --------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body":
            await self._on_body(message)
        else:
            await self.send_next(message)

    async def _on_start(self, message: Message) -> None:
        optimizer, settings = self.optimizer, self.optimizer.settings
        state = self.scope["extensions"].get(STATE_KEY)
        if isinstance(state, RequestState):
            self.state, self.policy = state, state.policy
        policy = self.policy
        status: int = message["status"]
        headers: Headers = list(message.get("headers") or ())
        self.start, self.headers = message, headers
        method = self.method

        length = _content_length(headers)
        encoded = _encoded(headers)
        content_type = header(headers, b"content-type")
        kind = media_type(content_type) if content_type else ""
        has_body = status >= 200 and status not in _NO_BODY_STATUSES and status != 206

        self.compressible = (
            policy.compress
            and has_body
            and not encoded
            and bool(kind)
            and kind in optimizer.compress_types
            and (length is None or length >= settings.compress_min_size)
        )
        self.minify_html = (
            policy.minify and has_body and not encoded and kind == "text/html" and method == "GET"
        )
        cacheable = status == 200 and method == "GET"
        if cacheable:
            self._cache_control(headers)
        wants_etag = (
            cacheable
            and settings.etag
            and header(headers, b"etag") is None
            and "no-store" not in cache_directives(header(headers, b"cache-control"))
        )
        needs_body = self.compressible or self.minify_html or wants_etag
        if needs_body and length is not None and length <= settings.compress_max_size:
            self.mode = "buffer"
            self.declared = length
            return
        # Headers are final now: a stream, a body nobody needs to see.
        if self.compressible and length is not None:
            add_vary(headers, "Accept-Encoding")
        if cacheable and self._not_modified(headers):
            await self._send_not_modified(headers)
            self.mode = "swallow"
            return
        self.mode = "swallow" if self.head else "pass"
        message["headers"] = headers
        await self.send_next(message)

    async def _on_body(self, message: Message) -> None:
        if self.mode == "pass":
            await self.send_next(message)
            return
        more = message.get("more_body", False)
        if self.mode == "swallow":
            if not more:
                self.ended = True
                await self.send_next({"type": "http.response.body", "body": b""})
            return
        chunk = message.get("body", b"")
        if chunk:
            self.buffer.append(chunk)
            self.buffered += len(chunk)
        if self.buffered > self.optimizer.settings.compress_max_size:
            # More than the declared length: give up optimizing, send what we have.
            self.start["headers"] = self.headers
            await self.send_next(self.start)
            self.mode = "swallow" if self.head else "pass"
            sent = b"" if self.head else b"".join(self.buffer)
            self.buffer = []
            if more and self.head:
                return
            await self.send_next({"type": "http.response.body", "body": sent, "more_body": more})
            return
        if more:
            return
        await self._finish(b"".join(self.buffer))

    # -- the buffered path ---------------------------------------------------------------

    async def _finish(self, body: bytes) -> None:
        optimizer, settings = self.optimizer, self.optimizer.settings
        headers = self.headers
        status: int = self.start["status"]
        method = self.method
        if self.head and len(body) != self.declared:
            await self._head_as_it_came()
            return

        if self.minify_html:
            body = await optimizer.run(_minify_html(header(headers, b"content-type")), body)

        memo_key = None
        if (
            header(headers, b"etag") is None
            and settings.etag
            and status == 200
            and method == "GET"
            and "no-store" not in cache_directives(header(headers, b"cache-control"))
        ):
            state = self.state
            if state is not None and state.etag and not self.minify_html:
                etag, memo_key = state.etag, state.digest  # computed as the body went by
            else:
                etag = body_etag(body, current_request_id())
                # A weak tag is shared by bodies that differ (their request ids): never a key.
                memo_key = None if is_weak(etag) else etag
            headers.append((b"etag", etag.encode("ascii")))

        coding = None
        if self.compressible and len(body) >= settings.compress_min_size:
            add_vary(headers, "Accept-Encoding")
            request = self._request()
            if request.accept_encoding is not None:
                coding = choose_encoding(request.accept_encoding, optimizer.offered)

        if status == 200 and method == "GET" and self._not_modified(headers, coding):
            await self._send_not_modified(headers, coding)
            return

        if coding is not None:
            compressed = await self._compress(body, coding, memo_key)
            if len(compressed) < len(body):
                body = compressed
                # Any Content-Encoding here says identity (not encoded): the coding replaces it.
                headers[:] = without(headers, (b"content-encoding",))
                headers.append((b"content-encoding", coding.encode("ascii")))
                _suffix_etag(headers, coding)
                optimizer.metrics.compressed(coding)

        _set_length(headers, len(body))
        self.start["headers"] = headers
        await self.send_next(self.start)
        await self.send_next({"type": "http.response.body", "body": b"" if self.head else body})

    async def _head_as_it_came(self) -> None:
        """A HEAD the app answered itself, without the body its ``Content-Length`` declares:
        nothing to work on; its header fields go out as they are (``Cache-Control`` added),
        or a 304 for a matching ``If-None-Match``."""
        headers = self.headers
        if self.compressible:  # a GET might have been compressed
            add_vary(headers, "Accept-Encoding")
        if self.start["status"] == 200 and self._not_modified(headers):
            await self._send_not_modified(headers)
            return
        self.start["headers"] = headers
        await self.send_next(self.start)
        await self.send_next({"type": "http.response.body", "body": b""})

    async def _compress(self, body: bytes, coding: str, key: str | None) -> bytes:
        """``body`` compressed; ``key`` (a strong ETag of these exact bytes) finds it in the
        memo of compressed bodies."""
        memo = self.optimizer.memo
        if memo is not None and key is not None:
            found = memo.get(key, coding)
            if found is not None:
                return found
        compressed = await self.optimizer.run(self.optimizer.compressors[coding], body)
        if memo is not None and key is not None:
            memo.put(key, coding, compressed)
        return compressed

    # -- HTTP caching --------------------------------------------------------------------

    def _request(self) -> _Request:
        if self.request is None:
            self.request = _Request(self.scope)
        return self.request

    def _cache_control(self, headers: Headers) -> None:
        policy = self.policy
        if policy.max_age is None or header(headers, b"cache-control") is not None:
            return
        private = not policy.shared and self._request().has_any(policy.credential_headers)
        scope = "private" if private else "public"
        headers.append((b"cache-control", f"{scope}, max-age={policy.max_age}".encode()))

    def _not_modified(self, headers: Headers, coding: str | None = None) -> bool:
        if_none_match = self._request().if_none_match
        if if_none_match is None:
            return False
        etag = header(headers, b"etag")
        if etag is None:
            return False
        try:
            return etag_matches(if_none_match, etag.decode("latin-1"), self.optimizer.suffixes)
        except Exception:  # pragma: no cover - the parser is total; a bug must not be a 500
            logger.exception("If-None-Match %r could not be evaluated", if_none_match)
            return False

    async def _send_not_modified(self, headers: Headers, coding: str | None = None) -> None:
        kept = without(headers, _NOT_MODIFIED_DROPS)
        if coding is not None:
            _suffix_etag(kept, coding)
        await self.send_next({"type": "http.response.start", "status": 304, "headers": kept})
        await self.send_next({"type": "http.response.body", "body": b""})


def drop_unbuffered_head_bodies(max_size: int) -> Callable[[Any], Any]:
    """A Flask ``after_request`` function: a HEAD run as a GET whose body the optimizer would
    not buffer (no ``Content-Length``: a stream, server-sent events; or more than
    ``max_size`` bytes) is answered by werkzeug as a HEAD after all, with its header fields
    and no body: a generator is never started, a file never read (the optimizer would only
    have dropped it)."""
    import flask

    def after_request(response: Any) -> Any:
        state = request_state()
        if state is not None and state.head_as_get:
            length = response.content_length
            if length is None and response.is_sequence:
                length = response.calculate_content_length()
            if length is None or length > max_size:
                flask.request.environ["REQUEST_METHOD"] = "HEAD"
        return response

    return after_request


def _encoded(headers: Headers) -> bool:
    """Whether the body is already encoded: a ``Content-Encoding`` other than ``identity``
    (which means no encoding at all, so such a body may still be compressed)."""
    value = header(headers, b"content-encoding")
    return value is not None and value.strip().lower() != b"identity"


def _content_length(headers: Headers) -> int | None:
    value = header(headers, b"content-length")
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _set_length(headers: Headers, length: int) -> None:
    encoded = str(length).encode("ascii")
    for index, (name, _) in enumerate(headers):
        if name.lower() == b"content-length":
            headers[index] = (name, encoded)
            return
    headers.append((b"content-length", encoded))


def _suffix_etag(headers: Headers, coding: str) -> None:
    """A compressed representation gets its own ETag: ``"abc"`` -> ``"abc-zstd"``,
    ``W/"abc"`` -> ``W/"abc-zstd"`` (so no cache takes one coding's body for another's)."""
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"etag":
            tag, weak = opaque_tag(value.decode("latin-1"))
            prefix = "W/" if weak else ""
            headers[index] = (name, f'{prefix}"{tag}-{coding}"'.encode("latin-1"))
            return


def _minify_html(content_type: bytes | None) -> Any:
    charset = "utf-8"
    if content_type and b"charset=" in content_type.lower():
        charset = (
            content_type.lower()
            .split(b"charset=", 1)[1]
            .split(b";")[0]
            .strip()
            .decode("latin-1")
            .strip('"')
        )

    def minify(body: bytes) -> bytes:
        import minify_html

        try:
            text = body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            return body
        try:
            minified: str = minify_html.minify(text, minify_css=True)
        except Exception:  # a page the minifier cannot handle goes out as it is
            logger.debug("HTML minification failed", exc_info=True)
            return body
        return minified.encode(charset, "xmlcharrefreplace")

    return minify
