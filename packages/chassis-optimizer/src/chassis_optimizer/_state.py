"""One :class:`Optimizer` per App: settings turned into ready-to-use pieces, shared by the
middlewares, the jsonifier and the health check."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import chassis

from ._cache import Backend, MemoryCache
from ._codecs import compressors
from ._flight import Flights
from ._http import MediaTypes
from ._invalidate import describe
from ._metrics import OptimizerMetrics
from ._paths import prefix_of
from ._policy import RoutePolicy, global_policy
from ._settings import OptimizerSettings

STATE_KEY = "chassis_optimizer"
"""``scope["extensions"][STATE_KEY]`` holds each request's :class:`RequestState`; the Flask
application's ``extensions`` hold the app's :class:`Optimizer` under the same name."""

logger = logging.getLogger("chassis.optimizer")

GENERATION_MARGIN = 300.0
"""Seconds a Redis invalidation generation outlives the longest-lived entry."""

NEVER_COMPRESSED = ("text/event-stream",)

# Bodies this large are compressed or minified in a worker thread, not on the event loop.
THREAD_THRESHOLD = 256 * 1024

HEAD_KEY = "chassis_optimizer.head"
"""In ``scope["extensions"]`` of a HEAD request the outer middleware handles: it answers with
the header fields of the GET response and drops the body itself, so the layers inside may
answer the HEAD as a GET."""


class RequestState:
    """What the routed part of the optimizer tells the outer part about one request."""

    __slots__ = ("digest", "etag", "head_as_get", "policy")

    def __init__(self, policy: RoutePolicy) -> None:
        self.policy = policy
        self.head_as_get = False
        """A HEAD running as a GET (its operation is a GET operation)."""
        self.etag: str | None = None
        """The ETag the optimizer computed from the body (``body_etag``: strong, or weak when
        the body carries the request id)."""
        self.digest: str | None = None
        """The strong ETag of the body's exact bytes, when known: safe to key memos on."""


class CompressedMemo:
    """Compressed bodies by (strong ETag, coding), bounded in bytes: an identical response
    (a cache hit, a static list) is compressed once."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, etag: str, coding: str) -> bytes | None:
        found = self._items.get((etag, coding))
        if found is not None:
            self._items.move_to_end((etag, coding))
        return found

    def put(self, etag: str, coding: str, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        key = (etag, coding)
        if key in self._items:
            return
        self._items[key] = body
        self.bytes += len(body)
        while self.bytes > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= len(dropped)


class Optimizer:
    """The optimizer of one app."""

    def __init__(self, app: chassis.BaseApp, settings: OptimizerSettings) -> None:
        self.app = app
        self.settings = settings
        self.default_policy = global_policy(settings)
        levels = {
            "zstd": settings.zstd_level,
            "br": settings.brotli_level,
            "gzip": settings.gzip_level,
        }
        self.offered = tuple(settings.compress_algorithms)
        self.compressors = compressors({coding: levels[coding] for coding in self.offered})
        self.suffixes = tuple(self.compressors)
        self.compress_types = MediaTypes(settings.compress_types, NEVER_COMPRESSED)
        self.memo = (
            CompressedMemo(settings.compress_memo_bytes) if settings.compress_memo_bytes else None
        )
        self.metrics = OptimizerMetrics()
        self.metrics.bind(app)
        core = app.settings
        self.excluded = chassis.PathPatterns([*chassis.probe_paths(core), *settings.exclude_paths])
        self.key_prefix = (
            settings.cache_key_prefix
            if settings.cache_key_prefix is not None
            else f"chassis:optimizer:{core.service_name}:{core.service_version}:"
        )
        self.client_name = "chassis-optimizer:" + "".join(
            char if char.isprintable() and not char.isspace() else "_" for char in core.service_name
        )
        """The Redis connections' name (``CLIENT LIST``): who is connected."""
        self.backend: Backend
        self.flights: Flights
        self.backend, self.flights = self._backend()
        self.loop: asyncio.AbstractEventLoop | None = None
        """The server's event loop, between the lifespan start-up and shutdown."""
        self.longest_ttl = 0
        """The longest ``cache_ttl`` of the app's operations (known once routes are built)."""
        self.invalidate_writes = settings.cache_enabled and settings.cache_invalidate_writes

    def _backend(self) -> tuple[Backend, Flights]:
        settings = self.settings
        url = settings.redis_url
        if url is None:
            memory = MemoryCache(
                settings.cache_max_entries, settings.cache_max_bytes, self.metrics.evicted
            )
            return memory, Flights(memory, None, settings.cache_fill_wait)
        from ._redis import RedisCache

        redis = RedisCache(
            url,
            key_prefix=self.key_prefix,
            client_name=self.client_name,
            timeout=settings.cache_timeout,
            retry_interval=settings.cache_retry_interval,
            warn_interval=settings.cache_warn_interval,
            on_error=self.metrics.error,
        )
        return redis, Flights(redis, redis, settings.cache_fill_wait)

    async def start(self) -> None:
        """The server starts (``startup`` hook): remember its loop, open the backend on it."""
        self.loop = asyncio.get_running_loop()
        await self.backend.start()

    async def stop(self) -> None:
        """The server stops (``shutdown`` hook): close the backend's connections."""
        self.loop = None
        await self.backend.close()

    async def invalidate(self, paths: list[str], prefixes: list[str]) -> bool:
        """Drop the cached responses of ``paths`` and of every path under ``prefixes``.
        ``False`` when it failed (logged): never raises, so a failed invalidation never
        turns the write that asked for it into a 500."""
        if not self.settings.cache_enabled or not (paths or prefixes):
            return True
        keep = max(self.settings.cache_ttl, self.longest_ttl) + GENERATION_MARGIN
        trees = list(dict.fromkeys(prefix_of(prefix) for prefix in prefixes))
        try:
            done = await self.backend.invalidate(list(dict.fromkeys(paths)), trees, keep)
        except Exception:
            logger.warning(
                "response cache: invalidation of %s failed; their entries may be served "
                "until they expire",
                describe(paths, prefixes),
                exc_info=True,
            )
            return False
        if not done:
            logger.warning(
                "response cache: invalidation of %s failed; their entries may be served "
                "until they expire",
                describe(paths, prefixes),
            )
        return done

    async def run(self, function: Callable[[bytes], bytes], body: bytes) -> bytes:
        """``function(body)``, in a worker thread when the body is large."""
        if len(body) < THREAD_THRESHOLD:
            return function(body)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, function, body)

    async def health(self) -> dict[str, Any]:
        detail = await self.backend.health()
        detail.setdefault("status", "up")
        if self.settings.cache_required and detail.get("degraded"):
            detail["status"] = "down"
        return detail


def current_request_id() -> str | None:
    """The request id of the request being served (the one the envelope writes)."""
    context = chassis.get_context()
    return context.request_id if context is not None else None


def request_state() -> RequestState | None:
    """The routed request's state, from any layer or view thread of the request."""
    context = chassis.get_context()
    state = context.scope["extensions"].get(STATE_KEY) if context is not None else None
    return state if isinstance(state, RequestState) else None


def minify_policy() -> bool | None:
    """Whether the current request's route is minified, or ``None`` outside a routed request."""
    state = request_state()
    return state.policy.minify if state is not None else None
