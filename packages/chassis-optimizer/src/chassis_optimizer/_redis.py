"""The shared response cache on Redis (``redis.asyncio``: never blocks the event loop).

Redis being down or lost never fails a request: a failed call is a miss (or a dropped
write), the cache is then bypassed for ``cache_retry_interval`` seconds, and a warning is
logged at most once per ``cache_warn_interval``. Readiness reports the cache degraded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ._cache import Entry

logger = logging.getLogger("chassis.optimizer")


def mask_url(url: str) -> str:
    """``redis://:secret@host:6379/0`` -> ``redis://:***@host:6379/0``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if parts.password is None and "@" not in parts.netloc:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


class RedisCache:
    """Entries in Redis, expiring there (``SET ... PX``), shared by every process and replica."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        client_name: str,
        timeout: float,
        retry_interval: float,
        warn_interval: float,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        import redis.asyncio  # noqa: F401  (fail at start-up, not at the first request)

        self.url = url
        self.client_name = client_name
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.warn_interval = warn_interval
        self.on_error = on_error
        self.reachable: bool | None = None
        self.last_error: str | None = None
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0
        self._last_warning: float | None = None

    def _redis(self) -> Any:
        # A client (and its pool) belongs to one event loop; a new loop (a test client without
        # `with`, a new worker) gets its own.
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._client = Redis.from_url(
                self.url,
                client_name=self.client_name,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self._loop = loop
        return self._client

    @property
    def bypassed(self) -> bool:
        """Whether the cache is skipped for now, after a failure."""
        return self._down_until > time.monotonic()

    def _failed(self, error: BaseException) -> None:
        now = time.monotonic()
        self.reachable = False
        self.last_error = f"{type(error).__name__}: {error}"
        self._down_until = now + self.retry_interval
        if self.on_error is not None:
            self.on_error()
        if self._last_warning is None or now - self._last_warning >= self.warn_interval:
            self._last_warning = now
            logger.warning(
                "response cache: Redis at %s failed (%s); serving without the cache, next try "
                "in %g s (this warning repeats at most every %g s)",
                mask_url(self.url),
                self.last_error,
                self.retry_interval,
                self.warn_interval,
            )

    def _succeeded(self) -> None:
        if self.reachable is False:
            logger.warning("response cache: Redis at %s is reachable again", mask_url(self.url))
        self.reachable = True
        self._down_until = 0.0

    async def get(self, key: str) -> Entry | None:
        if self.bypassed:
            return None
        try:
            data = await self._redis().get(key)
        except Exception as error:  # any failure of the cache is a miss, never a 500
            self._failed(error)
            return None
        self._succeeded()
        return Entry.from_bytes(data) if data else None

    async def set(self, key: str, entry: Entry) -> None:
        if self.bypassed:
            return
        milliseconds = int((entry.expires_at - time.time()) * 1000)
        if milliseconds <= 0:
            return
        try:
            await self._redis().set(key, entry.to_bytes(), px=milliseconds)
        except Exception as error:
            self._failed(error)
            return
        self._succeeded()

    async def health(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._redis().ping(), self.timeout * 2)
        except Exception as error:
            self._failed(error if str(error) else TimeoutError("no answer"))
        else:
            self._succeeded()
        detail: dict[str, Any] = {
            "backend": self.name,
            "url": mask_url(self.url),
            "reachable": bool(self.reachable),
        }
        if not self.reachable:
            detail["degraded"] = True
            detail["error"] = self.last_error
        return detail

    async def start(self) -> None:
        """Create the client (its pool connects on first use) on the server's event loop."""
        self._redis()

    async def close(self) -> None:
        """Close the client's connections (at the server's shutdown)."""
        client, self._client = self._client, None
        self._loop = None
        if client is not None:
            try:
                await client.aclose()
            except Exception:  # pragma: no cover - closing a broken connection
                logger.debug("response cache: closing the Redis client failed", exc_info=True)
