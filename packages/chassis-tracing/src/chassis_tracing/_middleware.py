"""The ASGI middleware that makes one server span per HTTP request.

Placed before Connexion's ExceptionMiddleware, it sees the final status of every request,
the problem+json 400/401/403/404/405/500 of Connexion's middleware included. The route
template is known only after routing, so the span starts as ``METHOD`` and is renamed to
``METHOD /route/{template}`` when the inner application has answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from chassis import app_path, get_context
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from ._runtime import TracingRuntime

# HTTP semantic conventions (stable): https://opentelemetry.io/docs/specs/semconv/http/
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_REQUEST_METHOD_ORIGINAL = "http.request.method_original"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_ROUTE = "http.route"
URL_PATH = "url.path"
URL_SCHEME = "url.scheme"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
USER_AGENT_ORIGINAL = "user_agent.original"
ERROR_TYPE = "error.type"

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)

ROUTE_KEY = "chassis_route"
"""Where the kernel's RouteMiddleware leaves the route template in ``scope["extensions"]``."""

STATE_KEY = "tracing"
"""Key of the :class:`RequestTrace` in ``chassis.current_context.state``."""


class RequestTrace:
    """What the rest of the plugin needs to know about the request's server span."""

    __slots__ = ("error_type", "exception", "span")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.error_type: str | None = None
        self.exception: BaseException | None = None

    def record_exception(self, exc: BaseException) -> None:
        """Record ``exc`` on the server span once, and remember its type for ``error.type``."""
        if exc is self.exception:
            return
        self.exception = exc
        self.error_type = qualified_name(exc)
        if self.span.is_recording():
            self.span.record_exception(exc)


def qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


class _ScopeHeaders(Getter[Iterable[tuple[bytes, bytes]]]):
    """Reads propagation headers straight from the ASGI header list (names are lower case)."""

    def get(self, carrier: Iterable[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier if header == name]
        return values or None

    def keys(self, carrier: Iterable[tuple[bytes, bytes]]) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier]


_GETTER = _ScopeHeaders()
_EMPTY_CONTEXT = otel_context.Context()


class TracingMiddleware:
    """A server span per HTTP request, current while the request is served."""

    def __init__(self, app: ASGIApp, *, runtime: TracingRuntime) -> None:
        self.app = app
        self.runtime = runtime
        self.tracer = runtime.tracer
        self.is_excluded = runtime.excluded
        self._propagator: object = None
        self._propagated: frozenset[bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]  # url.path: as the client sent it
        if self.is_excluded(app_path(scope)):
            await self.app(scope, receive, send)
            return

        parent = self.extract(scope["headers"])
        span, span_method = self._start_span(scope, path, parent)
        request_context = get_context()
        if request_context is not None:
            span_context = span.get_span_context()
            if span_context.is_valid:
                fields = request_context.fields
                fields["trace_id"] = format(span_context.trace_id, "032x")
                fields["span_id"] = format(span_context.span_id, "016x")
        token = otel_context.attach(trace.set_span_in_context(span, parent))

        if not span.is_recording():
            # Not sampled: the span only carries the trace context (logs, outgoing calls).
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
                span.end()
            return

        request_trace = RequestTrace(span)
        if request_context is not None:
            request_context.state[STATE_KEY] = request_trace
        status = 0
        escaped = False

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        except BaseException as exc:
            escaped = True
            request_trace.record_exception(exc)
            raise
        finally:
            otel_context.detach(token)
            if request_context is not None and request_context.error is not None:
                # An exception the kernel answered with a 500, inside this layer.
                request_trace.record_exception(request_context.error)
            route = (
                request_context.route
                if request_context is not None
                else scope.get("extensions", {}).get(ROUTE_KEY)
            )
            _finish(span, span_method, route, status, escaped, request_trace)
            span.end()

    def extract(self, headers: list[tuple[bytes, bytes]]) -> otel_context.Context:
        """The caller's trace context, through the global propagator.

        Requests that carry none of the propagator's headers (most of them, for a service at
        the edge) skip the propagator's parsing.
        """
        propagator = propagate.get_global_textmap()
        if propagator is not self._propagator:
            self._propagator = propagator
            try:
                fields = frozenset(name.lower().encode("latin-1") for name in propagator.fields)
            except Exception:
                fields = frozenset()
            self._propagated = fields or None  # unknown fields: always extract
        names = self._propagated
        if names is not None:
            for name, _ in headers:
                if name in names:
                    break
            else:
                return _EMPTY_CONTEXT
        return propagator.extract(headers, getter=_GETTER)

    def _start_span(
        self, scope: Scope, path: str, parent: otel_context.Context
    ) -> tuple[trace.Span, str]:
        """Start the server span with what the sampler may use; the rest if it records."""
        method: str = scope["method"]
        if method in KNOWN_METHODS:
            span_method = method
            attributes: dict[str, Any] = {HTTP_REQUEST_METHOD: method}
        else:
            span_method = "HTTP"
            attributes = {HTTP_REQUEST_METHOD: "_OTHER", HTTP_REQUEST_METHOD_ORIGINAL: method}
        attributes[URL_PATH] = path
        attributes[URL_SCHEME] = scope.get("scheme", "http")
        span = self.tracer.start_span(
            span_method, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )
        if span.is_recording():
            span.set_attributes(_request_attributes(scope, scope["headers"]))
        return span, span_method


def _finish(
    span: trace.Span,
    method: str,
    route: str | None,
    status: int,
    escaped: bool,
    request_trace: RequestTrace,
) -> None:
    attributes: dict[str, Any] = {}
    if route:
        span.update_name(f"{method} {route}")
        attributes[HTTP_ROUTE] = route
    if status:
        attributes[HTTP_RESPONSE_STATUS_CODE] = status
    if status >= 500 or escaped:
        attributes[ERROR_TYPE] = request_trace.error_type or str(status)
        span.set_status(Status(StatusCode.ERROR))
    span.set_attributes(attributes)


def _request_attributes(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    host = None
    for name, value in headers:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"user-agent":
            attributes[USER_AGENT_ORIGINAL] = value.decode("latin-1")
    if host:
        address, port = _split_host(host)
        attributes[SERVER_ADDRESS] = address
        if port is not None:
            attributes[SERVER_PORT] = port
    elif scope.get("server"):
        address, port = scope["server"]
        attributes[SERVER_ADDRESS] = address
        if port is not None:
            attributes[SERVER_PORT] = port
    return attributes


def _split_host(host: str) -> tuple[str, int | None]:
    """``example.com:8080`` -> (``example.com``, 8080); IPv6 literals keep their brackets off."""
    if host.startswith("["):
        end = host.find("]")
        if end != -1:
            rest = host[end + 1 :]
            port = rest[1:] if rest.startswith(":") else ""
            return host[1:end], int(port) if port.isdigit() else None
    address, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return address, int(port)
    return host, None
