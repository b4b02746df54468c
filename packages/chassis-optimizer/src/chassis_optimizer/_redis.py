"""The shared response cache on Redis (``redis.asyncio``: never blocks the event loop).

Redis being down or lost never fails a request: a failed call is a miss (or a dropped
write), the cache is then bypassed for ``cache_retry_interval`` seconds, and a warning is
logged at most once per ``cache_warn_interval``. Readiness reports the cache degraded.

Invalidation never looks for keys (no ``KEYS``, no ``SCAN``). Each path has a generation,
and so has each prefix (``/``, ``/premises``, ``/premises/7``...): a random token under
``<prefix>inv:path:<hash>`` / ``<prefix>inv:tree:<hash>``, absent until the first
invalidation. A lookup reads the generations of the request's path and of its ancestors
and the entry under its key with them folded in, in one script (one round trip); an
invalidation writes a new token (one ``SET`` per path or prefix), so every worker's next
lookup misses, atomically. Entries of an old generation are never read again and expire;
a generation outlives them (``keep``), so its expiry cannot bring one back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from typing import Any, NamedTuple

import chassis

from ._cache import Entry, Slot
from ._paths import ancestors

# KEYS[1]: the entry's key without generations; KEYS[2..]: the generations of its path.
# Returns the generations' suffix of the key, and the entry stored under the whole key.
LOOKUP = """
local generations = redis.call('MGET', unpack(KEYS, 2))
local parts = {}
for index = 1, #generations do
  if generations[index] then parts[#parts + 1] = index .. '=' .. generations[index] end
end
local suffix = ''
if #parts > 0 then suffix = '.' .. redis.sha1hex(table.concat(parts, ' ')) end
return {suffix, redis.call('GET', KEYS[1] .. suffix)}
"""

# KEYS[1]: an entry's key, KEYS[2]: its fill lock. The entry if it was stored since the
# caller's lookup ({2, entry}), else the lock for ARGV[1] for ARGV[2] ms ({1}), or {0}
# when another request holds it.
CLAIM = """
local entry = redis.call('GET', KEYS[1])
if entry then return {2, entry} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {0}
"""

# Deletes the fill lock KEYS[1] if it is still ARGV[1]'s (not a later filler's).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

logger = logging.getLogger("chassis.optimizer")


def _digest(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def path_generation(prefix: str, path: str) -> str:
    return f"{prefix}inv:path:{_digest(path)}"


def tree_generation(prefix: str, tree: str) -> str:
    return f"{prefix}inv:tree:{_digest(tree)}"


@lru_cache(maxsize=4096)
def generation_keys(prefix: str, path: str) -> tuple[str, ...]:
    """The keys of every generation a request to ``path`` depends on."""
    return (
        path_generation(prefix, path),
        *(tree_generation(prefix, tree) for tree in ancestors(path)),
    )


class _Bound(NamedTuple):
    """A Redis client and its scripts."""

    client: Any
    lookup: Any
    claim: Any
    release: Any


class RedisCache:
    """Entries in Redis, expiring there (``SET ... PX``), shared by every process and replica."""

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
        import redis.asyncio  # noqa: F401  (fail at start-up, not at the first request)

        self.url = url
        self.key_prefix = key_prefix
        self.client_name = client_name
        self.timeout = timeout
        self.outage = chassis.Outage(
            "response cache",
            f"Redis at {url}",
            logger=logger,
            retry_interval=retry_interval,
            warn_interval=warn_interval,
            while_down="serving without the cache",
            on_error=on_error,
        )
        self._clients = chassis.PerLoop(self._bind)
        """The client of the loop that uses the cache (and its scripts), swapped as one."""
        self._closed_on: asyncio.AbstractEventLoop | None = None
        """The loop of a server that shut down: its late requests open no client."""

    def _bind(self) -> _Bound:
        client = self._new_client()
        return _Bound(
            client,
            client.register_script(LOOKUP),
            client.register_script(CLAIM),
            client.register_script(RELEASE),
        )

    def _redis(self) -> _Bound:
        return self._clients.get()

    def _new_client(self) -> Any:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return Redis.from_url(
            self.url,
            client_name=self.client_name,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """The client, or on another loop than the one that owns it (an invalidation from
        outside the server), a client of this call's own."""
        bound = self._clients.current()
        if bound is not None:
            yield bound.client
            return
        client = self._new_client()
        try:
            yield client
        finally:
            await client.aclose()

    @property
    def bypassed(self) -> bool:
        """Whether the cache is skipped for now: after a failure, or for a request still
        running on the loop of a server that shut down (it would open a client nobody
        closes)."""
        closed = self._closed_on
        if closed is not None:
            try:
                if asyncio.get_running_loop() is closed:
                    return True
            except RuntimeError:  # pragma: no cover - always asked from a coroutine
                pass
        return self.outage.active

    async def lookup(self, base: str, path: str) -> tuple[Slot, Entry | None]:
        slot = Slot(base, path)
        if self.bypassed:
            return slot, None
        try:
            suffix, data = await self._redis().lookup(
                keys=[base, *generation_keys(self.key_prefix, path)]
            )
        except Exception as error:  # any failure of the cache is a miss, never a 500
            self.outage.failed(error)
            return slot, None
        self.outage.succeeded()
        slot = Slot(base, path, suffix=suffix.decode("ascii"))
        return slot, Entry.from_bytes(data) if data else None

    async def store(self, slot: Slot, entry: Entry) -> None:
        if self.bypassed:
            return
        milliseconds = int((entry.expires_at - time.time()) * 1000)
        if milliseconds <= 0:
            return
        try:
            await self._redis().client.set(slot.key, entry.to_bytes(), px=milliseconds)
        except Exception as error:
            self.outage.failed(error)
            return
        self.outage.succeeded()

    def current(self, slot: Slot) -> bool:
        # An invalidation changes the key itself: a slot looked up before it is never read.
        return True

    async def invalidate(self, paths: list[str], prefixes: list[str], keep: float) -> bool:
        """A new generation for each path and prefix, living ``keep`` seconds (longer than
        any entry of the generation before it)."""
        names = [path_generation(self.key_prefix, path) for path in paths]
        names += [tree_generation(self.key_prefix, prefix) for prefix in prefixes]
        milliseconds = max(1, int(keep * 1000))
        try:
            async with self._connection() as client, client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.set(name, uuid.uuid4().hex, px=milliseconds)
                await pipe.execute()
        except Exception as error:
            self.outage.failed(error)
            return False
        self.outage.succeeded()
        return True

    # -- filling an entry once for every worker (see _flight) ------------------------------

    async def claim(self, slot: Slot, token: str, seconds: float) -> Entry | bool | None:
        """Take the lock on filling ``slot`` for ``seconds``, in one step with a last look
        at the entry: the entry when another request stored it since the lookup, ``True``
        when the lock is taken, ``False`` when another request holds it, ``None`` when
        Redis cannot tell."""
        if self.bypassed:
            return None
        milliseconds = max(1, int(seconds * 1000))
        try:
            reply = await self._redis().claim(
                keys=[slot.key, slot.key + ":fill"], args=[token, milliseconds]
            )
        except Exception as error:
            self.outage.failed(error)
            return None
        self.outage.succeeded()
        if reply[0] == 2:
            return Entry.from_bytes(reply[1])  # None (not ours to read): run the view
        return bool(reply[0])

    async def peek(self, slot: Slot) -> tuple[Entry | None, bool]:
        """The entry in ``slot`` and whether its lock is still held (one atomic ``MGET``)."""
        if self.bypassed:
            return None, False
        try:
            data, token = await self._redis().client.mget(slot.key, slot.key + ":fill")
        except Exception as error:
            self.outage.failed(error)
            return None, False
        self.outage.succeeded()
        return (Entry.from_bytes(data) if data else None), token is not None

    async def release(self, slot: Slot, token: str) -> None:
        """Drop the lock on filling ``slot`` if it is still ``token``'s."""
        if self.bypassed:
            return  # it expires
        try:
            await self._redis().release(keys=[slot.key + ":fill"], args=[token])
        except Exception as error:
            self.outage.failed(error)

    async def health(self) -> dict[str, Any]:
        try:
            async with self._connection() as client:
                await asyncio.wait_for(client.ping(), self.timeout * 2)
        except Exception as error:
            self.outage.failed(error if str(error) else TimeoutError("no answer"))
        else:
            self.outage.succeeded()
        return {
            "backend": self.name,
            "url": chassis.redact_credentials(self.url),
            **self.outage.detail(),
        }

    async def start(self) -> None:
        """Create the client (its pool connects on first use) on the server's event loop."""
        self._closed_on = None
        self._redis()

    async def close(self) -> None:
        """Close the client's connections (at the server's shutdown). Until the next
        :meth:`start`, requests still running on this loop bypass the cache instead of
        opening a client nobody would close; invalidations use a client of their own,
        closed after use."""
        self._closed_on = asyncio.get_running_loop()
        bound = self._clients.pop()
        if bound is not None:
            try:
                await bound.client.aclose()
            except Exception:  # pragma: no cover - closing a broken connection
                logger.debug("response cache: closing the Redis client failed", exc_info=True)
