"""Where the counts live: the ``limits`` package's moving window, in memory or in Redis.

- ``memory://``: ``limits``' synchronous ``MemoryStorage``. Its calls never wait on I/O, so
  they run directly on the event loop (no ``await``, no thread), and they hold no object bound
  to an event loop: one storage serves every loop a process runs (a test client without
  ``with`` runs each request on a loop of its own).
- ``redis://``: ``limits.aio``'s ``RedisStorage`` on redis-py's asyncio client, its moving
  window taken and read in one script call per request, pipelined with the other requests'
  (``_batch``): atomic in Redis, so every worker and replica shares one count. A client
  belongs to one event loop; a new loop gets its own.

A failed call to Redis raises :class:`StorageUnavailable`; calls are then skipped (raising at
once) for ``retry_interval`` seconds, after which the next request tries again: the limiter
recovers by itself. A warning is logged at most once per ``warn_interval``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import chassis
from limits import RateLimitItem

from ._deadline import within

if TYPE_CHECKING:
    from ._batch import Batcher


logger = logging.getLogger("chassis.ratelimit")


class StorageUnavailable(Exception):
    """The storage could not be asked (Redis unreachable, timed out, or skipped after that)."""


class Hit(NamedTuple):
    """The answer for one policy."""

    allowed: bool
    remaining: int | None
    """Requests left in the window after this one (``None`` when not asked for)."""
    reset: int | None
    """Whole seconds until more quota is available (``None`` when not asked for)."""


def _seconds_until(moment: float) -> int:
    return max(0, math.ceil(moment - time.time()))


EXPIRY_INTERVAL = 1.0
"""Seconds between two sweeps of expired entries by the in-memory storage."""


def _memory_storage() -> Any:
    """``limits``' ``MemoryStorage``, sweeping expired entries once a second.

    Its own sweep runs 10 ms after the previous one ends, each in a new thread: about 100
    threads a second under load, which cost more CPU than the counting itself (about 80 us a
    request at 500 requests a second here). The sweep only frees memory: whether a request
    fits is decided from the entries' times, so sweeping less often changes no answer and
    keeps at most a second more of entries. When ``limits`` no longer has the method, its own
    storage is used as it is.
    """
    from limits.storage import MemoryStorage

    if not hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry") or not hasattr(
        MemoryStorage, "_MemoryStorage__expire_events"
    ):  # pragma: no cover - another version of limits
        return MemoryStorage()

    class SweepingMemoryStorage(MemoryStorage):
        def _MemoryStorage__schedule_expiry(self) -> None:
            if not self.timer.is_alive():
                sweep = getattr(self, "_MemoryStorage__expire_events")  # noqa: B009  (private)
                self.timer = threading.Timer(EXPIRY_INTERVAL, sweep)
                self.timer.daemon = True  # never holds the process at exit
                self.timer.start()

    return SweepingMemoryStorage()


class MemoryStore:
    """Counts of this process only (``memory://``)."""

    name = "memory"

    def __init__(self) -> None:
        from limits.strategies import MovingWindowRateLimiter

        self.storage = _memory_storage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, item: RateLimitItem, ids: tuple[str, ...], stats: bool) -> Hit:
        allowed = self.limiter.hit(item, *ids)
        if not stats and allowed:
            return Hit(True, None, None)
        window = self.limiter.get_window_stats(item, *ids)
        return Hit(allowed, max(0, window.remaining), _seconds_until(window.reset_time))

    async def health(self) -> dict[str, Any]:
        return {"status": "up", "storage": self.name}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _Bound(NamedTuple):
    pool: Any
    client: Any
    limiter: Any
    batcher: Batcher | None


class RedisStore:
    """Counts shared by every process through Redis (``redis://``, ``rediss://``,
    ``unix://``)."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        client_name: str,
        timeout: float,
        retry_interval: float,
        warn_interval: float,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        import limits.aio.storage  # noqa: F401  (fail at start-up, not at the first request)
        import redis.asyncio  # noqa: F401

        self.url = url
        self.key_prefix = key_prefix
        self.client_name = client_name
        self.timeout = timeout
        self.outage = chassis.Outage(
            "rate limits",
            f"Redis at {url}",
            logger=logger,
            retry_interval=retry_interval,
            warn_interval=warn_interval,
            on_error=on_error,
        )
        self._clients = chassis.PerLoop(self._new_bound)

    def _bind(self) -> _Bound:
        return self._clients.get()

    def _new_bound(self) -> _Bound:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter
        from redis.asyncio import ConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        from ._batch import Batcher

        # The pool is ours (limits builds its client on it): we close it at shutdown.
        pool = ConnectionPool.from_url(
            self.url,
            client_name=self.client_name,
            # Each round trip is bounded as a whole (see _batch.within); a timer per reply
            # read costs about 45 us of CPU a call.
            socket_connect_timeout=self.timeout,
            # One try per call: a failure is answered at once (open or closed), and the next
            # request tries again after retry_interval.
            retry=Retry(NoBackoff(), 0),
        )
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=self.key_prefix,
            connection_pool=pool,  # type: ignore[arg-type]  # typed too narrowly
        )
        client = Redis(connection_pool=pool)
        # limits' key names (its prefix and separator), for the batched calls.
        prefixed_key = getattr(getattr(storage, "bridge", None), "prefixed_key", None)
        return _Bound(
            pool,
            client,
            MovingWindowRateLimiter(storage),
            Batcher(client, prefixed_key, self.timeout) if prefixed_key is not None else None,
        )

    @property
    def bypassed(self) -> bool:
        return self.outage.active

    async def hit(self, item: RateLimitItem, ids: tuple[str, ...], stats: bool) -> Hit:
        if self.bypassed:
            raise StorageUnavailable(self.outage.last_error or "Redis unreachable")
        bound = self._bind()
        try:
            if bound.batcher is not None:
                hit = await self._batched(bound.batcher, item, ids, stats)
            else:
                hit = await within(self.timeout, self._one_by_one(bound.limiter, item, ids, stats))
        except Exception as error:  # any failure of Redis: fail open or closed, never a 500
            raise StorageUnavailable(self.outage.failed(error)) from error
        self.outage.succeeded()
        return hit

    @staticmethod
    async def _batched(
        batcher: Batcher, item: RateLimitItem, ids: tuple[str, ...], stats: bool
    ) -> Hit:
        limit, expiry = item.amount, item.get_expiry()
        taken = await batcher.take(item.key_for(*ids), limit, expiry)
        if not stats and taken.taken:
            return Hit(True, None, None)
        start = taken.oldest if taken.oldest is not None else time.time()
        return Hit(taken.taken, max(0, limit - taken.entries), _seconds_until(start + expiry))

    @staticmethod
    async def _one_by_one(
        limiter: Any, item: RateLimitItem, ids: tuple[str, ...], stats: bool
    ) -> Hit:
        allowed = await limiter.hit(item, *ids)
        if not stats and allowed:
            return Hit(True, None, None)
        window = await limiter.get_window_stats(item, *ids)
        return Hit(allowed, max(0, window.remaining), _seconds_until(window.reset_time))

    async def health(self) -> dict[str, Any]:
        """Pings Redis (also outside ``retry_interval``: the probe tells the truth)."""
        try:
            await within(self.timeout * 2, self._bind().client.ping())
        except Exception as error:
            self.outage.failed(error if str(error) else TimeoutError("no answer"))
        else:
            self.outage.succeeded()
        return {
            "status": "up",
            "storage": self.name,
            "url": chassis.redact_credentials(self.url),
            "errors": self.outage.errors,
            **self.outage.detail(),
        }

    async def start(self) -> None:
        self._bind()

    async def close(self) -> None:
        bound = self._clients.pop()
        if bound is not None:
            try:
                await bound.pool.aclose()
            except Exception:  # pragma: no cover - closing a broken connection
                logger.debug("rate limits: closing the Redis client failed", exc_info=True)


Store = MemoryStore | RedisStore
