"""One Redis round trip for many requests, one script call for each.

redis-py's asyncio client spends far more CPU on each call than Redis spends running it, and
``limits`` takes two calls for a request that wants its remaining quota (the ``RateLimit``
field, or ``Retry-After`` on a 429): its moving-window ``acquire`` script, then its window
script. So:

- :data:`TAKE` does both in one script, on ``limits``' own data (a Redis list of timestamps,
  newest first, trimmed to the limit, under ``limits``' key names): the rules of its
  ``acquire_moving_window.lua`` followed by the binary search of its ``moving_window.lua``.
  A key written by one is read by the other, and each call is atomic in Redis.
- The calls of the requests waiting on one event loop go out together: a request that finds
  nothing on the wire sends, itself, at the end of the loop's turn, with the calls of the
  requests that turn handled; the requests that arrive while a round
  trip is on the wire wait for it and go together in the next one. An idle service makes one
  plain call per request; a busy one one pipeline per round trip, whatever the concurrency.

Calls go by ``EVALSHA`` (redis-py's pipelines would ask ``SCRIPT EXISTS`` first, a round trip
more every time); after a ``NOSCRIPT`` (a restarted or flushed Redis) the script is loaded
again and the batch resent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from redis.exceptions import NoScriptError, ResponseError

from ._deadline import within

# KEYS[1]: the window. ARGV: now (seconds, a float), limit, expiry (seconds).
# Returns {1 if an entry was taken else 0, entries in the window, the oldest one's timestamp}.
TAKE = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local start = now - expiry
local taken = 0
local last = redis.call('lindex', KEYS[1], limit - 1)
if not (last and tonumber(last) >= start) then
  redis.call('lpush', KEYS[1], ARGV[1])
  redis.call('ltrim', KEYS[1], 0, limit - 1)
  redis.call('expire', KEYS[1], expiry)
  taken = 1
end
local low, high, found = 0, math.min(redis.call('llen', KEYS[1]), limit) - 1, -1
while low <= high do
  local middle = math.floor((low + high) / 2)
  local value = tonumber(redis.call('lindex', KEYS[1], middle))
  if value and value >= start then
    found = middle
    low = middle + 1
  else
    high = middle - 1
  end
end
if found < 0 then return {taken, 0, false} end
return {taken, found + 1, redis.call('lindex', KEYS[1], found)}
"""


class Taken(NamedTuple):
    """What :data:`TAKE` answered for one request."""

    taken: bool
    entries: int
    """Entries in the window, this request's included when taken."""
    oldest: float | None
    """The timestamp of the oldest entry in the window (``None``: the window is empty)."""


class _Call(NamedTuple):
    key: bytes
    limit: bytes
    expiry: bytes
    future: asyncio.Future[Taken]


class Batcher:
    """Pipelines the :data:`TAKE` calls of one event loop's requests (see the module)."""

    def __init__(self, client: Any, prefixed_key: Callable[[str], str], timeout: float) -> None:
        self.client = client
        self.timeout = timeout
        """Seconds a round trip may take (the whole batch's, not each reply's: redis-py's
        ``socket_timeout`` costs a timer per reply read)."""
        self.prefixed_key = prefixed_key
        self.script = client.register_script(TAKE)
        self._pending: list[_Call] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def take(self, key: str, limit: int, expiry: int) -> Taken:
        """Take an entry of ``limit`` per ``expiry`` seconds under ``key`` (a ``limits`` key,
        unprefixed) if the window has room, and read the window."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Taken] = loop.create_future()
        prefixed = self.prefixed_key(key).encode("utf-8", "surrogateescape")
        self._pending.append(_Call(prefixed, _integer(limit), _integer(expiry), future))
        if self._flushing:  # a round trip is on the wire: this call goes with the next one
            return await future
        # Nobody is sending: this request sends, itself (no task), once the requests this loop
        # turn is handling have queued their calls too.
        self._flushing = True
        try:
            await asyncio.sleep(0)
            await self._send_pending()
        finally:
            if self._pending:  # arrived meanwhile: a task sends them, and any after them
                self._task = loop.create_task(self._flush())
            else:
                self._flushing = False
        return future.result()

    async def _flush(self) -> None:
        try:
            while self._pending:
                await self._send_pending()
        finally:
            self._flushing = False
            if self._pending:  # arrived while cancelled: never leave a request waiting
                for call in self._pending:
                    if not call.future.done():
                        call.future.set_exception(ConnectionError("rate-limit flush stopped"))
                self._pending = []

    async def _send_pending(self) -> None:
        """One round trip for every call waiting; each call's future gets its answer."""
        batch, self._pending = self._pending, []
        try:
            replies = await within(self.timeout, self._execute(batch))
        except BaseException as error:
            for call in batch:
                if not call.future.done():
                    call.future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done():  # the request went away meanwhile
                continue
            if isinstance(reply, Exception):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _execute(self, batch: list[_Call]) -> list[Taken | Exception]:
        replies = await self._send(batch)
        if any(isinstance(reply, NoScriptError) for reply in replies):
            self.script.sha = await self.client.script_load(TAKE)
            replies = await self._send(batch)
        return [
            reply
            if isinstance(reply, Exception)
            else Taken(
                bool(reply[0]), int(reply[1]), float(reply[2]) if reply[2] is not None else None
            )
            for reply in replies
        ]

    async def _send(self, batch: list[_Call]) -> list[Any]:
        # Arguments as bytes: redis-py packs them as they are, without encoding each one.
        stamp = repr(time.time()).encode()
        sha = self.script.sha.encode()
        if len(batch) == 1:  # a pipeline of one costs a third more CPU than the call itself
            call = batch[0]
            try:
                return [await self.client.evalsha(sha, 1, call.key, stamp, call.limit, call.expiry)]
            except ResponseError as error:  # NOSCRIPT, or the script failed: as a pipeline
                return [error]
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            pipe.evalsha(sha, 1, call.key, stamp, call.limit, call.expiry)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


@lru_cache(maxsize=256)
def _integer(value: int) -> bytes:
    return str(value).encode()
