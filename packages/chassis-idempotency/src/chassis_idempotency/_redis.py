"""The store on Redis (``redis.asyncio``), shared by every worker and replica.

A key's record is ``<prefix>{<hash>}`` and its lock ``<prefix>{<hash>}:lock``; both are
written by scripts, so a claim (look for the record, else ``SET lock NX PX``) and a
completion (store the record, drop the lock if it is still ours) are each one atomic step.

After a failed call the store is not tried for ``retry_interval`` seconds: requests get the
configured answer at once instead of each waiting for a time-out; a warning is logged at most
once per ``warn_interval``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import chassis

from ._record import Record
from ._store import Claim, StoreError, lock_fingerprint, lock_value

# KEYS[1]: the record, KEYS[2]: the lock; ARGV[1]: the lock's value, ARGV[2]: its life (ms).
# {2, record} when the key is completed, {1} when the lock is taken now, else {0, lock value}.
CLAIM = """
local record = redis.call('GET', KEYS[1])
if record then return {2, record} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
return {0, redis.call('GET', KEYS[2]) or ''}
"""

# KEYS[1]: the record, KEYS[2]: the lock; ARGV[1]: the token, ARGV[2]: the record ('' for
# none), ARGV[3]: its life (ms). The record is stored unless one is there already (a request
# whose lock expired while it ran must not replace the first response).
COMPLETE = """
local held = redis.call('GET', KEYS[2])
if held and string.sub(held, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
  redis.call('DEL', KEYS[2])
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3])
end
return 1
"""

logger = logging.getLogger("chassis.idempotency")


class _Bound(NamedTuple):
    client: Any
    loop: asyncio.AbstractEventLoop
    claim: Any
    complete: Any


class RedisStore:
    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        client_name: str,
        timeout: float,
        retry_interval: float,
        warn_interval: float = 30.0,
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
        self._bound: _Bound | None = None
        self._down_until = 0.0
        self._last_warning: float | None = None

    def _redis(self) -> _Bound:
        # A client (and its pool) belongs to one event loop; another loop (a test client
        # without its lifespan, a new worker) gets its own.
        loop = asyncio.get_running_loop()
        bound = self._bound
        if bound is None or bound.loop is not loop:
            client = self._new_client()
            bound = _Bound(
                client, loop, client.register_script(CLAIM), client.register_script(COMPLETE)
            )
            self._bound = bound
        return bound

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

    def _check(self) -> None:
        if self._down_until > time.monotonic():
            raise StoreError(f"Redis unavailable ({self.last_error}); next try soon")

    def _failed(self, error: BaseException) -> StoreError:
        now = time.monotonic()
        self.reachable = False
        self.last_error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self._down_until = now + self.retry_interval
        if self.on_error is not None:
            self.on_error()
        if self._last_warning is None or now - self._last_warning >= self.warn_interval:
            self._last_warning = now
            logger.warning(
                "idempotency: Redis at %s failed (%s); next try in %g s (this warning repeats "
                "at most every %g s)",
                chassis.redact_credentials(self.url),
                self.last_error,
                self.retry_interval,
                self.warn_interval,
            )
        return StoreError(self.last_error)

    def _succeeded(self) -> None:
        if self.reachable is False:
            logger.warning(
                "idempotency: Redis at %s is reachable again", chassis.redact_credentials(self.url)
            )
        self.reachable = True
        self._down_until = 0.0

    async def claim(self, key: str, token: str, fingerprint: str, lock_seconds: float) -> Claim:
        self._check()
        milliseconds = max(1, int(lock_seconds * 1000))
        try:
            reply = await self._redis().claim(
                keys=[key, key + ":lock"], args=[lock_value(token, fingerprint), milliseconds]
            )
        except Exception as error:
            raise self._failed(error) from error
        self._succeeded()
        if reply[0] == 2:
            record = Record.from_bytes(reply[1])
            if record is None:  # written by another version: the key cannot be replayed
                return Claim(holder=None)
            return Claim(record=record)
        if reply[0] == 1:
            return Claim(taken=True)
        return Claim(holder=lock_fingerprint(reply[1] or None))

    async def complete(self, key: str, token: str, record: Record | None, ttl: float) -> None:
        # Tried even while Redis is marked down: the handler ran, and its response stored
        # (or its key released) spares the retries a second run or a wait for the lock.
        data = record.to_bytes() if record is not None else b""
        try:
            await self._redis().complete(
                keys=[key, key + ":lock"], args=[token, data, max(1, int(ttl * 1000))]
            )
        except Exception as error:
            raise self._failed(error) from error
        self._succeeded()

    async def health(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._redis().client.ping(), self.timeout * 2)
        except Exception as error:
            self._failed(error if str(error) else TimeoutError("no answer"))
        else:
            self._succeeded()
        detail: dict[str, Any] = {
            "status": "up",
            "store": self.name,
            "url": chassis.redact_credentials(self.url),
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
        bound, self._bound = self._bound, None
        if bound is not None:
            try:
                await bound.client.aclose()
            except Exception:  # pragma: no cover - closing a broken connection
                logger.debug("idempotency: closing the Redis client failed", exc_info=True)
