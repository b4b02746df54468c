"""Where keys, their locks and their responses live: the protocol, and this process's memory.

For each key the store holds at most one *lock* (the request running the handler: a random
token and its request's fingerprint, expiring after ``lock_timeout``) and one *record* (the
completed response, expiring after its ttl). :meth:`Store.claim` looks for the record and,
when there is none, takes the lock, in one atomic step; :meth:`Store.complete` stores the
record (if any) and drops the lock, again in one step, so a retry sees either the lock or the
record, never neither while the first request is between the two.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from ._record import Record


class StoreError(Exception):
    """The store could not be reached or answered an error (the message says which)."""


@dataclass(frozen=True)
class Claim:
    """What :meth:`Store.claim` found."""

    record: Record | None = None
    """The completed response of an earlier request with the key."""
    taken: bool = False
    """The caller holds the key now: it runs the handler, then calls ``complete``."""
    holder: str | None = None
    """When neither: the fingerprint of the request holding the key (``None`` if unknown)."""


class Store(Protocol):
    name: str

    async def claim(self, key: str, token: str, fingerprint: str, lock_seconds: float) -> Claim:
        """The record of ``key``, or its lock for ``token`` (raises :class:`StoreError`)."""
        ...

    async def complete(self, key: str, token: str, record: Record | None, ttl: float) -> None:
        """Store ``record`` for ``ttl`` seconds (``None``: nothing) and drop ``token``'s lock.
        A record already there is kept (the first completed response wins)."""
        ...

    async def health(self) -> dict[str, Any]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def lock_value(token: str, fingerprint: str) -> str:
    return f"{token} {fingerprint}"


def lock_fingerprint(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return text.partition(" ")[2] or None


class MemoryStore:
    """Records and locks in this process (one worker; tests). Bounded: the oldest records
    go first beyond ``max_entries``. Thread-safe: apps served from several event loops
    (a test client without its lifespan) share it."""

    name = "memory"

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._records: OrderedDict[str, tuple[Record, float]] = OrderedDict()
        self._locks: dict[str, tuple[str, float]] = {}
        self._mutex = threading.Lock()

    async def claim(self, key: str, token: str, fingerprint: str, lock_seconds: float) -> Claim:
        now = time.monotonic()
        with self._mutex:
            found = self._records.get(key)
            if found is not None:
                if found[1] > now:
                    return Claim(record=found[0])
                del self._records[key]
            lock = self._locks.get(key)
            if lock is not None and lock[1] > now:
                return Claim(holder=lock_fingerprint(lock[0]))
            self._locks[key] = (lock_value(token, fingerprint), now + lock_seconds)
            return Claim(taken=True)

    async def complete(self, key: str, token: str, record: Record | None, ttl: float) -> None:
        now = time.monotonic()
        with self._mutex:
            lock = self._locks.get(key)
            if lock is not None and lock[0].partition(" ")[0] == token:
                del self._locks[key]
            if record is None:
                return
            found = self._records.get(key)
            if found is not None and found[1] > now:
                return
            self._records[key] = (record, now + ttl)
            self._records.move_to_end(key)
            self._prune(now)

    def _prune(self, now: float) -> None:
        while len(self._records) > self.max_entries:
            self._records.popitem(last=False)
        # Locks of requests that died without completing (a cancelled task) expire here.
        if len(self._locks) > self.max_entries:
            for name in [name for name, (_, until) in self._locks.items() if until <= now]:
                del self._locks[name]

    async def health(self) -> dict[str, Any]:
        return {"status": "up", "store": self.name}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
