"""Miss coalescing (single flight): concurrent misses of one key run the view once.

In a process, the first request that misses a key leads: it registers a :class:`Fill` (an
asyncio future), runs the view and hands the entry it stored to the requests that missed
the same key meanwhile, which wait at most ``cache_fill_wait`` seconds. With Redis, the
leaders of several workers also agree on one of them: the one that takes a short lock
(``SET <key>:fill NX PX``, in a script that first looks at the entry again, so a worker
that missed just before another stored it does not run the view again) runs the view; the
others poll the key (every 5 ms at first, then every 100 ms at most) until the entry is
there, or the lock is gone without an entry, or their wait is over.

Coalescing never fails a request and never serves what could not be cached: a follower
whose leader produced no entry (an error, an exception, a response that may not be
stored), or whose wait ran out, runs the view itself.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Protocol, TypeGuard

from ._cache import Backend, Entry, Slot

FIRST_POLL = 0.005
LAST_POLL = 0.1


class Coordinator(Protocol):
    """A backend that can elect one filler across processes (Redis)."""

    async def claim(self, slot: Slot, token: str, seconds: float) -> Entry | bool | None: ...

    async def peek(self, slot: Slot) -> tuple[Entry | None, bool]: ...

    async def release(self, slot: Slot, token: str) -> None: ...


class Fill:
    """A request running the view for a key; ``finish`` hands its entry to the followers."""

    __slots__ = ("flights", "future", "loop", "slot", "token", "waiting")

    def __init__(self, slot: Slot, loop: asyncio.AbstractEventLoop, flights: Flights | None):
        self.slot = slot
        self.loop = loop
        self.flights = flights
        """Set while registered: followers in this process may wait for it."""
        self.future: asyncio.Future[Entry | None] = loop.create_future()
        self.token: str | None = None
        """The cross-process lock this fill holds, if any."""
        self.waiting = 0
        """Requests of this process waiting for it (and it, while it waits for another
        process's entry)."""

    async def result(self, timeout: float) -> Entry | None:
        """The leader's entry, or ``None`` (it stored nothing, or ``timeout`` ran out)."""
        self.waiting += 1
        try:
            return await asyncio.wait_for(asyncio.shield(self.future), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            self.waiting -= 1

    async def finish(self, entry: Entry | None) -> None:
        """Done: ``entry`` is what was stored for the key (``None``: nothing)."""
        flights, self.flights = self.flights, None
        if flights is not None and flights.active.get(self.slot.key) is self:
            del flights.active[self.slot.key]
        if not self.future.done():
            self.future.set_result(entry)
        token, self.token = self.token, None
        if token is not None and flights is not None and flights.coordinator is not None:
            await flights.coordinator.release(self.slot, token)


class Flights:
    """The fills in progress in this process, by key."""

    def __init__(self, backend: Backend, coordinator: Coordinator | None, wait: float) -> None:
        self.backend = backend
        self.coordinator = coordinator
        self.wait = wait
        self.active: dict[str, Fill] = {}

    async def join(self, slot: Slot) -> Entry | Fill:
        """After a miss: the entry a concurrent request filled, or a :class:`Fill` for the
        caller to run the view and ``finish`` (in a ``finally``)."""
        loop = asyncio.get_running_loop()
        if self.wait <= 0:
            return Fill(slot, loop, None)
        deadline = loop.time() + self.wait
        leader = self.active.get(slot.key)
        # A leader of another loop (a test client without a lifespan runs one per request)
        # cannot be awaited; one that looked up before an invalidation of the path may
        # return what was there before the write.
        if leader is not None and leader.loop is loop and self.backend.current(leader.slot):
            entry = await leader.result(self.wait)
            if _fresh(entry):
                return entry
            return Fill(slot, loop, None)  # run the view, without leading anyone
        fill = Fill(slot, loop, self)
        self.active[slot.key] = fill
        if self.coordinator is None:
            return fill
        try:
            entry = await self._across_processes(fill, deadline)
        except BaseException:
            await fill.finish(None)
            raise
        if not _fresh(entry):
            return fill
        await fill.finish(entry)
        return entry

    async def _across_processes(self, fill: Fill, deadline: float) -> Entry | None:
        """Take the fill lock (``None``: the caller runs the view), or wait for the entry of
        the process that holds it."""
        assert self.coordinator is not None
        token = uuid.uuid4().hex
        taken = await self.coordinator.claim(fill.slot, token, self.wait)
        if isinstance(taken, Entry):  # stored by another process since the lookup
            return taken
        if taken is not False:
            fill.token = token if taken else None
            return None
        fill.waiting += 1
        try:
            delay = FIRST_POLL
            while (remaining := deadline - fill.loop.time()) > 0:
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, LAST_POLL)
                entry, filling = await self.coordinator.peek(fill.slot)
                if entry is not None:
                    return entry
                if not filling:
                    return None  # the holder stored nothing (or died): run the view
            return None
        finally:
            fill.waiting -= 1


def _fresh(entry: Entry | None) -> TypeGuard[Entry]:
    return entry is not None and entry.expires_at > time.time()
