"""The routed middleware: each operation's policy, and the server-side response cache.

Placed just before Connexion's ContextMiddleware, after routing, security and request
validation: a request reaches the cache only once its credentials and parameters have been
checked (a cached response never skips a 401, 403 or 400), and a hit answers without running
the Flask view. Connexion's routing gives the operation; this middleware holds, per operation,
the policy resolved at start-up from the settings, the handler's decorators and the spec.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from chassis import app_path
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._cache import Entry, Slot, body_etag, cache_key, is_weak, storable_headers, strong_etag
from ._flight import Fill
from ._http import Headers, cache_directives, header, vary_names
from ._paths import parent
from ._policy import RoutePolicy, operation_policy
from ._state import HEAD_KEY, STATE_KEY, Optimizer, RequestState, current_request_id

_MAX_LEARNT_VARY = 32
CACHE_NAME = "chassis"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _stop_streams_after_headers(scope: Scope, receive: Receive, send: Send) -> tuple[Any, ...]:
    """A HEAD run as a GET under chassis.AsyncApp: once the header fields are out, a
    streaming response (Starlette's listens for the client going away) is told the client
    left, so its body is never produced; the outer layer ends the HEAD response."""
    started = asyncio.Event()

    async def send_watching(message: Message) -> None:
        if message["type"] == "http.response.start":
            started.set()
        await send(message)

    async def receive_until_started() -> Message:
        if not started.is_set():
            waiter = asyncio.ensure_future(receive())
            stopper = asyncio.ensure_future(started.wait())
            done, _ = await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                stopper.cancel()
                message: Message = waiter.result()
                return message
            waiter.cancel()
        return {"type": "http.disconnect"}

    return scope, receive_until_started, send_watching


class _Operation:
    """One operation: its policy, and what its responses were seen to vary on."""

    def __init__(
        self, next_app: ASGIApp, policy: RoutePolicy, optimizer: Optimizer, method: str
    ) -> None:
        self.next_app = next_app
        self.policy = policy
        self.optimizer = optimizer
        self.get = method.upper() == "GET"
        """A GET operation: Connexion routes HEAD requests of its path to it too."""
        self.route = policy.route or ""
        self.vary: tuple[str, ...] = policy.vary
        self.credentials: tuple[str, ...] = () if policy.shared else policy.credential_headers
        self.cached = policy.cache_ttl is not None and optimizer.settings.cache_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = RequestState(self.policy)
        scope["extensions"][STATE_KEY] = state
        method = scope["method"]
        if method == "HEAD" and self.get and scope["extensions"].get(HEAD_KEY):
            await self._head(scope, receive, send, state)
        elif self.cached and method in ("GET", "HEAD"):
            await self._cached(scope, receive, send, state)
        elif method in WRITES and self.optimizer.invalidate_writes:
            await self.next_app(scope, receive, self._invalidating(scope, send))
        else:
            await self.next_app(scope, receive, send)

    def learn(self, names: list[str]) -> bool:
        """Add response ``Vary`` names to this operation's key; ``False`` if too many."""
        new = [name for name in names if name not in self.vary]
        if not new:
            return True
        if len(self.vary) + len(new) > _MAX_LEARNT_VARY:
            return False
        self.vary = tuple(sorted({*self.vary, *new}))
        return True

    async def _head(self, scope: Scope, receive: Receive, send: Send, state: RequestState) -> None:
        """A HEAD the outer middleware answers with the header fields of GET: served as a GET
        (from the cache, or by the view), whose body the outer middleware drops. It never
        fills the cache nor leads or follows a fill."""
        scope = {**scope, "method": "GET"}
        state.head_as_get = True
        if self.cached:
            await self._cached(scope, receive, send, state, head=True)
        elif self.optimizer.app.flask_app is None:
            await self.next_app(*_stop_streams_after_headers(scope, receive, send))
        else:  # Flask drops an unbuffered body itself (drop_unbuffered_head_bodies)
            await self.next_app(scope, receive, send)

    async def _cached(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: RequestState,
        *,
        head: bool = False,
    ) -> None:
        optimizer = self.optimizer
        backend = optimizer.backend
        status_header = optimizer.settings.cache_status_header
        base = cache_key(optimizer.key_prefix, scope, self.vary, self.credentials)
        slot, entry = await backend.lookup(base, app_path(scope))
        now = time.time()
        if entry is not None and entry.expires_at <= now:
            entry = None
        bypassed = bool(getattr(backend, "bypassed", False))
        fill: Fill | None = None
        if entry is None and scope["method"] == "GET" and not head and not bypassed:
            joined = await optimizer.flights.join(slot)
            if isinstance(joined, Fill):
                fill = joined
            else:
                entry, now = joined, time.time()
                optimizer.metrics.coalesced(self.route)
        if entry is not None:
            optimizer.metrics.hit(self.route)
            await self._serve(entry, scope, send, state, now, status_header)
            return
        optimizer.metrics.miss(self.route)
        if fill is None:  # HEAD, or Redis bypassed
            await self.next_app(scope, receive, _tagging(send, status_header, bypassed))
            return
        stored: Entry | None = None
        try:
            recorder = _Recorder(self, scope, send, slot, state, status_header)
            await self.next_app(scope, receive, recorder.send)
            stored = recorder.entry()
            if stored is not None:
                await backend.store(recorder.slot, stored)
                if recorder.slot.key != slot.key:  # another key (a Vary learnt): not theirs
                    stored = None
        finally:
            await fill.finish(stored)

    def _invalidating(self, scope: Scope, send: Send) -> Send:
        """Before a successful write's answer leaves, drop the cached responses it changed:
        its path and the paths under it (``prefix``), and its parent collection."""
        optimizer = self.optimizer

        async def invalidating(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                path = app_path(scope)
                await optimizer.invalidate([parent(path)], [path])
            await send(message)

        return invalidating

    async def _serve(
        self,
        entry: Entry,
        scope: Scope,
        send: Send,
        state: RequestState,
        now: float,
        status_header: bool,
    ) -> None:
        state.etag = entry.etag or None
        state.digest = entry.memo_key
        headers = list(entry.headers)
        headers.append((b"age", str(max(0, int(now - entry.stored_at))).encode()))
        if status_header:
            ttl = max(0, int(entry.expires_at - now))
            headers.append((b"cache-status", f"{CACHE_NAME}; hit; ttl={ttl}".encode()))
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        body = entry.body if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})


def _tagging(send: Send, enabled: bool, bypassed: bool) -> Send:
    if not enabled:
        return send
    value = f"{CACHE_NAME}; fwd={'bypass' if bypassed else 'uri-miss'}".encode()

    async def tagged(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"cache-status", value)]
        await send(message)

    return tagged


class _Recorder:
    """Forwards a response as it comes and keeps a copy when it may be stored."""

    def __init__(
        self,
        operation: _Operation,
        scope: Scope,
        send: Send,
        slot: Slot,
        state: RequestState,
        status_header: bool,
    ) -> None:
        self.operation = operation
        self.scope = scope
        self.send_next = send
        self.slot = slot
        self.state = state
        self.status_header = status_header
        self.storable = False
        self.complete = False
        self.status = 0
        self.headers: Headers = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.etag = ""
        self.digest = ""

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers") or ())
            self.storable = self._storable()
            if self.status_header:
                value = f"{CACHE_NAME}; fwd=uri-miss" + ("; stored" if self.storable else "")
                message["headers"] = [*self.headers, (b"cache-status", value.encode())]
        elif kind == "http.response.body" and self.storable:
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.operation.optimizer.settings.cache_max_entry_bytes:
                self.storable, self.chunks = False, []
            elif chunk:
                self.chunks.append(chunk)
            if self.storable and not message.get("more_body", False):
                self.complete = True
                if header(self.headers, b"etag") is None:
                    body = b"".join(self.chunks)
                    # Weak when the body carries the request id: later hits serve these
                    # bytes (the filler's id) with the tag of a miss (another id).
                    self.etag = body_etag(body, current_request_id())
                    self.digest = strong_etag(body) if is_weak(self.etag) else self.etag
                    self.state.etag, self.state.digest = self.etag, self.digest
        await self.send_next(message)

    def _storable(self) -> bool:
        if self.status != 200:
            return False
        headers = self.headers
        if header(headers, b"set-cookie") is not None:
            return False
        directives = cache_directives(header(headers, b"cache-control"))
        if directives & {"no-store", "no-cache"}:
            return False
        if "private" in directives and not self._credentialed():
            return False
        length = header(headers, b"content-length")
        limit = self.operation.optimizer.settings.cache_max_entry_bytes
        if length is not None and (not length.isdigit() or int(length) > limit):
            return False
        names = vary_names(headers)
        if "*" in names:
            return False
        if names and not set(names) <= set(self.operation.vary):
            if not self.operation.learn(names):
                return False
            self.slot = self.slot.rekey(
                cache_key(
                    self.operation.optimizer.key_prefix,
                    self.scope,
                    self.operation.vary,
                    self.operation.credentials,
                )
            )
        return True

    def _credentialed(self) -> bool:
        """Whether the key holds credentials this request carried."""
        names = {name.encode("latin-1") for name in self.operation.credentials}
        return any(key.lower() in names for key, _ in self.scope.get("headers", ()))

    def entry(self) -> Entry | None:
        if not (self.storable and self.complete):
            return None
        now = time.time()
        ttl = self.operation.policy.cache_ttl or 0
        return Entry(
            status=self.status,
            headers=storable_headers(self.headers),
            body=b"".join(self.chunks),
            etag=self.etag,
            stored_at=now,
            expires_at=now + ttl,
            digest=self.digest,
        )


class _OptimizerAPI(RoutedAPI[_Operation]):
    def __init__(self, *args: Any, optimizer: Optimizer, **kwargs: Any) -> None:
        self.optimizer = optimizer
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: Any) -> _Operation:
        policy = operation_policy(
            self.optimizer.settings,
            operation,
            method=operation.method,
            route=f"{self.base_path}{operation.path}",
        )
        if policy.cache_ttl is not None:
            self.optimizer.longest_ttl = max(self.optimizer.longest_ttl, policy.cache_ttl)
        return _Operation(self.next_app, policy, self.optimizer, operation.method)


class OptimizerRouteMiddleware(RoutedMiddleware[_OptimizerAPI]):
    """Finds the operation's policy; serves and fills the response cache."""

    api_cls = _OptimizerAPI

    def __init__(self, app: ASGIApp, *, optimizer: Optimizer) -> None:
        super().__init__(app)
        self.optimizer = optimizer

    def add_api(self, specification: Any, **kwargs: Any) -> _OptimizerAPI:
        api = self.api_cls(specification, next_app=self.app, optimizer=self.optimizer, **kwargs)
        self.apis[api.base_path].append(api)
        return api
