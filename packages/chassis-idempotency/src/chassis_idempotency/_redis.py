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
        self.outage = chassis.Outage(
            "idempotency",
            f"Redis at {url}",
            logger=logger,
            retry_interval=retry_interval,
            warn_interval=warn_interval,
            on_error=on_error,
        )
        self._clients = chassis.PerLoop(self._bind)

    def _bind(self) -> _Bound:
        client = self._new_client()
        return _Bound(client, client.register_script(CLAIM), client.register_script(COMPLETE))

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

    def _check(self) -> None:
        if self.outage.active:
            raise StoreError(f"Redis unavailable ({self.outage.last_error}); next try soon")

    def _failed(self, error: BaseException) -> StoreError:
        return StoreError(self.outage.failed(error))

    async def claim(self, key: str, token: str, fingerprint: str, lock_seconds: float) -> Claim:
        self._check()
        milliseconds = max(1, int(lock_seconds * 1000))
        try:
            reply = await self._redis().claim(
                keys=[key, key + ":lock"], args=[lock_value(token, fingerprint), milliseconds]
            )
        except Exception as error:
            raise self._failed(error) from error
        self.outage.succeeded()
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
        self.outage.succeeded()

    async def health(self) -> dict[str, Any]:
        try:
            await asyncio.wait_for(self._redis().client.ping(), self.timeout * 2)
        except Exception as error:
            self._failed(error if str(error) else TimeoutError("no answer"))
        else:
            self.outage.succeeded()
        return {
            "status": "up",
            "store": self.name,
            "url": chassis.redact_credentials(self.url),
            **self.outage.detail(),
        }

    async def start(self) -> None:
        """Create the client (its pool connects on first use) on the server's event loop."""
        self._redis()

    async def close(self) -> None:
        bound = self._clients.pop()
        if bound is not None:
            try:
                await bound.client.aclose()
            except Exception:  # pragma: no cover - closing a broken connection
                logger.debug("idempotency: closing the Redis client failed", exc_info=True)
