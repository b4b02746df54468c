"""One Redis round trip for many requests: ``limits``' moving-window scripts, pipelined.

redis-py's asyncio client spends far more CPU on each call than Redis spends on the script
(about 4 times the per-command cost of a pipeline), and a request that wants its remaining
quota for the ``RateLimit`` field needs two scripts: taking an entry, then reading the
window. So the calls of every request waiting on one event loop go out together: the first
request to arrive schedules a flush at the end of the loop's turn, and while a pipeline is on
the wire the requests that arrive meanwhile wait for the next one. An idle service sends one
request's calls at once; a busy one sends one pipeline per turn, whatever the concurrency.

The scripts, their arguments and the key names are ``limits``' own (its Redis storage for
redis-py, the ``moving window`` strategy); each script is atomic in Redis, as it is when
``limits`` runs it. Scripts go by ``EVALSHA`` (redis-py's pipelines would ask ``SCRIPT
EXISTS`` first, a round trip more each time) and are loaded again after a ``NOSCRIPT`` (a
restarted or flushed Redis).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple


class Scripts(NamedTuple):
    """``limits``' moving-window scripts and key naming, taken from its Redis storage."""

    acquire: Any
    window: Any
    prefixed_key: Any

    @classmethod
    def of(cls, storage: Any) -> Scripts | None:
        """The storage's scripts, or ``None`` when this version of ``limits`` keeps them
        elsewhere (then its public API is used, one call per script)."""
        bridge = getattr(storage, "bridge", None)
        acquire = getattr(bridge, "lua_acquire_moving_window", None)
        window = getattr(bridge, "lua_moving_window", None)
        prefixed_key = getattr(bridge, "prefixed_key", None)
        if acquire is None or window is None or prefixed_key is None:
            return None
        if not all(
            hasattr(script, "sha") and hasattr(script, "script") for script in (acquire, window)
        ):
            return None
        return cls(acquire, window, prefixed_key)


class Call(NamedTuple):
    key: str
    limit: int
    expiry: int
    acquire: bool
    stats: bool
    future: asyncio.Future[tuple[bool, float | None, int | None]]


class Batcher:
    """Pipelines the moving-window calls of one event loop's requests (see the module)."""

    def __init__(self, client: Any, scripts: Scripts) -> None:
        self.client = client
        self.scripts = scripts
        self._pending: list[Call] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def hit(
        self, key: str, limit: int, expiry: int, stats: bool
    ) -> tuple[bool, float | None, int | None]:
        """Take an entry of ``limit`` per ``expiry`` seconds under ``key`` (a ``limits`` key,
        unprefixed): whether it was taken, and with ``stats`` the window's oldest entry and
        how many entries it holds, read right after."""
        return await self._queue(key, limit, expiry, True, stats)

    async def window(
        self, key: str, limit: int, expiry: int
    ) -> tuple[bool, float | None, int | None]:
        """The window's oldest entry and how many entries it holds (``False`` first)."""
        return await self._queue(key, limit, expiry, False, True)

    async def _queue(
        self, key: str, limit: int, expiry: int, acquire: bool, stats: bool
    ) -> tuple[bool, float | None, int | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bool, float | None, int | None]] = loop.create_future()
        prefixed = self.scripts.prefixed_key(key)
        self._pending.append(Call(prefixed, limit, expiry, acquire, stats, future))
        if not self._flushing:
            self._flushing = True
            # The task's first step runs after the callbacks already queued: the requests
            # this loop turn handles join the same pipeline.
            self._task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    replies = await self._execute(batch)
                except BaseException as error:
                    for call in batch:
                        if not call.future.done():
                            call.future.set_exception(error)
                    if isinstance(error, asyncio.CancelledError):
                        raise
                    continue
                for call, reply in zip(batch, replies, strict=True):
                    if not call.future.done():
                        call.future.set_result(reply)
        finally:
            self._flushing = False
            if self._pending:  # arrived while cancelled: never leave a request waiting
                for call in self._pending:
                    if not call.future.done():
                        call.future.set_exception(ConnectionError("rate-limit flush stopped"))
                self._pending = []

    async def _execute(self, batch: list[Call]) -> list[tuple[bool, float | None, int | None]]:
        replies = await self._send(batch)
        if any(_is_noscript(reply) for reply in replies):
            for script in (self.scripts.acquire, self.scripts.window):
                script.sha = await self.client.script_load(script.script)
            replies = await self._send(batch)
        results: list[tuple[bool, float | None, int | None]] = []
        position = 0
        for call in batch:
            acquired = False
            if call.acquire:
                acquired = _checked(replies[position])
                position += 1
            oldest: float | None = None
            count: int | None = None
            if call.stats:
                window = _checked(replies[position])
                position += 1
                oldest, count = (float(window[0]), int(window[1])) if window else (None, 0)
            results.append((bool(acquired), oldest, count))
        return results

    async def _send(self, batch: list[Call]) -> list[Any]:
        now = time.time()
        acquire, window = self.scripts.acquire.sha, self.scripts.window.sha
        pipe = self.client.pipeline(transaction=False)
        for call in batch:
            # The arguments limits' own acquire_entry and get_moving_window send.
            if call.acquire:
                pipe.evalsha(acquire, 1, call.key, now, call.limit, call.expiry, 1)
            if call.stats:
                pipe.evalsha(window, 1, call.key, now - call.expiry, call.limit)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


def _is_noscript(reply: Any) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(reply, NoScriptError)


def _checked(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply
