"""The two layers of the plugin.

* :class:`IdempotencyRouteMiddleware` sits in the ``handler`` slot: after routing, security
  and request validation, so the operation and the principal are known and a request whose
  credentials or parameters are refused never takes a key. It reads the operation's
  ``x-chassis-idempotency`` once, at start-up; per request it reads the key, hashes the
  request, and asks the store: a stored response is replayed (or refused with 422 when the
  request differs), a key in flight is a 409, a new key is taken and the handler runs.
* :class:`IdempotencyRecordMiddleware` sits in the ``outer`` slot, outside Connexion's
  exception middleware, so it also sees the problem+json that a handler's exception becomes:
  it buffers the response of a request that took a key, stores it (unless a 5xx, or larger
  than ``max_response_bytes``), releases the key, then sends it.

Both are outside-in of the optimizer's compression and ETags (``encode`` slot), which
therefore apply to replays as to first answers; the stored response is the uncompressed one.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from chassis import app_path
from connexion.exceptions import ProblemException
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._keys import InvalidKey, fingerprint, parse_key, record_key
from ._record import Record, storable_headers
from ._settings import OperationOptions
from ._state import Idempotency
from ._store import StoreError

logger = logging.getLogger("chassis.idempotency")

EXTENSION = "x-chassis-idempotency"
RECORDER_KEY = "chassis_idempotency"
"""``scope["extensions"]`` key: the outer layer's :class:`_Recorder` of the request."""


class Pending:
    """A request holding a key: its response is to be stored under it."""

    __slots__ = ("fingerprint", "finished", "name", "route", "state", "token", "ttl")

    def __init__(
        self, state: Idempotency, name: str, token: str, fingerprint: str, ttl: float, route: str
    ) -> None:
        self.state = state
        self.name = name
        self.token = token
        self.fingerprint = fingerprint
        self.ttl = ttl
        self.route = route
        self.finished = False

    async def complete(self, record: Record | None, reason: str | None = None) -> None:
        """Store ``record`` (``None``: nothing, for ``reason``) and release the key."""
        if self.finished:
            return
        self.finished = True
        state = self.state
        if record is None and reason is not None:
            state.metrics.not_stored(self.route, reason)
        try:
            await state.store.complete(self.name, self.token, record, self.ttl)
        except StoreError:
            # The handler ran; its answer still goes out. The lock expires by itself.
            if record is not None:
                state.metrics.not_stored(self.route, "store_error")


class _Recorder:
    """The outer layer's ``send`` for one request: passes messages through, or, once the
    inner layer took a key (``pending``), buffers the response to store it first."""

    __slots__ = ("chunks", "max_bytes", "overflow", "pending", "send", "size", "start", "state")

    def __init__(self, state: Idempotency, send: Send) -> None:
        self.state = state
        self.send = send
        self.pending: Pending | None = None
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False
        self.max_bytes = state.settings.max_response_bytes

    async def record(self, message: Message) -> None:
        pending = self.pending
        if pending is None or self.overflow:
            await self.send(message)
            return
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
            return
        if kind != "http.response.body" or self.start is None:
            await self.send(message)
            return
        body = message.get("body", b"")
        more = bool(message.get("more_body", False))
        self.chunks.append(body)
        self.size += len(body)
        if self.size > self.max_bytes:
            # Too big to keep: released now, streamed from here on.
            self.overflow = True
            self._warn_large(pending.route)
            await pending.complete(None, "too_large")
            await self.send(self.start)
            await self.send(
                {"type": "http.response.body", "body": b"".join(self.chunks), "more_body": more}
            )
            self.chunks = []
            return
        if more:
            return
        whole = b"".join(self.chunks)
        status = int(self.start["status"])
        if status >= 500:
            await pending.complete(None, "server_error")
        else:
            headers = storable_headers(list(self.start.get("headers", ())), self.state.unstored)
            await pending.complete(Record(pending.fingerprint, status, headers, whole))
        await self.send(self.start)
        await self.send({"type": "http.response.body", "body": whole, "more_body": False})

    def _warn_large(self, route: str) -> None:
        if route in self.state.warned_large:
            return
        self.state.warned_large.add(route)
        logger.warning(
            "idempotency: a response of %s is larger than max_response_bytes (%d): it is sent "
            "but not stored, so a retry with its key runs the handler again (logged once per "
            'route; counted in chassis_idempotency_not_stored{reason="too_large"})',
            route,
            self.max_bytes,
        )


class IdempotencyRecordMiddleware:
    """The outer layer (``outer`` slot): stores the responses of requests that took a key."""

    def __init__(self, app: ASGIApp, *, state: Idempotency) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        # Only a request carrying a key can take one: the others pass at the cost of a look
        # at their header names.
        if (
            scope["type"] != "http"
            or scope["method"] not in state.methods
            or not any(name == state.header for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        recorder = _Recorder(state, send)
        scope["extensions"][RECORDER_KEY] = recorder
        try:
            await self.app(scope, receive, recorder.record)
        finally:
            pending = recorder.pending
            if pending is not None and not pending.finished:
                # No complete response (an exception after it started, a client gone): a
                # retry must run the handler again rather than wait for the lock to expire.
                await pending.complete(None, "incomplete")


def _problem(status: int, title: str, detail: str, **options: Any) -> ProblemException:
    return ProblemException(status=status, title=title, detail=detail, **options)


class _Operation:
    """One operation that takes a key."""

    def __init__(
        self,
        next_app: ASGIApp,
        state: Idempotency,
        route: str,
        required: bool,
        ttl: float,
    ) -> None:
        self.next_app = next_app
        self.state = state
        self.route = route
        self.required = required
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        settings = state.settings
        values = [value for name, value in scope["headers"] if name == state.header]
        if not values:
            if self.required:
                state.metrics.request(self.route, "missing_key")
                raise _problem(
                    400,
                    "Idempotency-Key missing",
                    f"this operation requires an {settings.header} header",
                    ext={
                        "invalid-params": [
                            {"name": settings.header, "in": "header", "reason": "is required"}
                        ]
                    },
                )
            await self.next_app(scope, receive, send)
            return
        recorder = scope["extensions"].get(RECORDER_KEY)
        if not isinstance(recorder, _Recorder):  # pragma: no cover - the layers come as a pair
            await self.next_app(scope, receive, send)
            return
        try:
            if len(values) > 1:
                raise InvalidKey("must be given once")
            key = parse_key(values[0], settings.max_key_length)
        except InvalidKey as error:
            state.metrics.request(self.route, "invalid_key")
            raise _problem(
                400,
                "Invalid Idempotency-Key",
                f"the {settings.header} header {error}",
                ext={
                    "invalid-params": [
                        {"name": settings.header, "in": "header", "reason": str(error)}
                    ]
                },
            ) from None
        body, receive = await _read_body(receive)
        request = fingerprint(
            scope["method"], app_path(scope), scope.get("query_string", b""), body
        )
        name = record_key(state.prefix, _principal(scope), key)
        token = uuid.uuid4().hex
        try:
            claim = await state.store.claim(name, token, request, settings.lock_timeout)
        except StoreError:
            if settings.on_store_error == "proceed":
                state.metrics.request(self.route, "unprotected")
                await self.next_app(scope, receive, send)
                return
            state.metrics.request(self.route, "store_unavailable")
            raise _problem(
                503,
                "Idempotency store unavailable",
                "the request was not processed",
                headers={"Retry-After": str(max(1, int(settings.retry_interval)))},
            ) from None
        if claim.record is not None:
            if claim.record.fingerprint != request:
                state.metrics.request(self.route, "mismatch")
                raise self._mismatch()
            state.metrics.request(self.route, "replayed")
            await self._replay(claim.record, send)
            return
        if not claim.taken:
            if claim.holder is not None and claim.holder != request:
                state.metrics.request(self.route, "mismatch")
                raise self._mismatch()
            state.metrics.request(self.route, "in_flight")
            raise _problem(
                409,
                "Idempotency-Key in use",
                f"a request with this {settings.header} is still being processed; retry later",
                headers={"Retry-After": str(settings.retry_after)},
            )
        state.metrics.request(self.route, "executed")
        recorder.pending = Pending(state, name, token, request, self.ttl, self.route)
        await self.next_app(scope, receive, send)

    def _mismatch(self) -> ProblemException:
        header = self.state.settings.header
        return _problem(
            422,
            "Idempotency-Key reused",
            f"this {header} was used for a different request (method, path, query or body); "
            "use a new key for a new request",
        )

    async def _replay(self, record: Record, send: Send) -> None:
        headers = list(record.headers)
        if self.state.replay_header:
            headers.append((self.state.replay_header, b"true"))
        await send({"type": "http.response.start", "status": record.status, "headers": headers})
        await send({"type": "http.response.body", "body": record.body, "more_body": False})


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (the kernel's ``limits`` layer already bounds it), and a
    ``receive`` that hands it on to the layers inside, then the original's messages."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client left before sending its body: let the inner layers see that.
            return b"", _answer(message)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _answer(message: Message) -> Receive:
    async def receive() -> Message:
        return message

    return receive


def _principal(scope: Scope) -> str:
    """Whose key it is: the authenticated subject (``sub``, or ``uid``) Connexion's security
    set; without one, the security function's whole answer; without security, nobody
    (every anonymous client shares one namespace: see the README)."""
    context = scope["extensions"].get("connexion_context") or {}
    user = context.get("user")
    if user is not None:
        return "user:" + str(user)
    info = context.get("token_info")
    if info is not None:
        return "token:" + repr(sorted(info.items()) if isinstance(info, dict) else info)
    return ""


def _describe(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path} ({operation.operation_id})"


class _IdempotencyAPI(RoutedAPI[Any]):
    def __init__(self, *args: Any, state: Idempotency, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state
        self.add_paths()

    def make_operation(self, operation: Any) -> Any:
        raw = self.specification.get_operation(operation.path, operation.method) or {}
        method = operation.method.upper()
        extension = raw.get(EXTENSION)
        settings = self.state.settings
        if extension is None:
            if method not in settings.methods:
                return self.next_app
            options = OperationOptions()
        else:
            if extension is True:
                extension = {}
            elif extension is False:
                extension = {"enabled": False}
            try:
                options = OperationOptions.model_validate(extension)
            except ValidationError as error:
                problems = "; ".join(
                    f"{'.'.join(map(str, item['loc'])) or 'value'}: "
                    f"{item['msg'].removeprefix('Value error, ')}"
                    for item in error.errors()
                )
                raise ValueError(
                    f"invalid {EXTENSION} on {_describe(operation)}: {problems} (expected true, "
                    "false or a mapping of required, ttl, enabled)"
                ) from None
        if not options.enabled:
            return self.next_app
        if method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            raise ValueError(
                f"{EXTENSION} on {_describe(operation)}: {method} is safe already; keys are "
                "for POST, PUT, PATCH and DELETE"
            )
        self.state.methods.add(method)
        route = (self.base_path or "") + operation.path
        required = settings.required if options.required is None else options.required
        ttl = settings.ttl if options.ttl is None else options.ttl
        return _Operation(self.next_app, self.state, route, required, ttl)


class IdempotencyRouteMiddleware(RoutedMiddleware[_IdempotencyAPI]):
    """The inner layer (``handler`` slot): keys, fingerprints, replays and refusals."""

    api_cls = _IdempotencyAPI

    def __init__(self, app: ASGIApp, *, state: Idempotency) -> None:
        super().__init__(app)
        self.state = state

    def add_api(self, specification: Any, **kwargs: Any) -> _IdempotencyAPI:
        api = _IdempotencyAPI(specification, next_app=self.app, state=self.state, **kwargs)
        self.apis[api.base_path].append(api)
        return api
