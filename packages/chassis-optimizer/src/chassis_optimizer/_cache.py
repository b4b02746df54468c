"""Cache entries, their keys, and the in-memory LRU backend.

A backend maps a key to an :class:`Entry` until the entry expires. Backends never raise: a
failing backend answers ``None`` (a miss) and drops writes, so the cache is bypassed.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import orjson

from ._http import Headers
from ._paths import covers

# Headers never stored: per-hop, per-response, or recomputed when an entry is served.
UNSTORED_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"date",
        b"age",
        b"cache-status",
        b"set-cookie",
        b"server",
    }
)


@dataclass(frozen=True)
class Entry:
    """A stored response: status 200, its headers, its body and its ETag."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    etag: str
    """Its :func:`body_etag` (weak when the body carries the request id), or empty."""
    stored_at: float
    expires_at: float
    digest: str = ""
    """The strong ETag of the body's bytes (a key of the compressed-body memo), or empty."""

    @property
    def memo_key(self) -> str | None:
        """What identifies the body's exact bytes, if known."""
        if self.digest:
            return self.digest
        return self.etag if self.etag and not is_weak(self.etag) else None

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers) + 64

    def ttl(self, now: float) -> float:
        return self.expires_at - now

    def to_bytes(self) -> bytes:
        meta = {
            "v": 1,
            "s": self.status,
            "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "e": self.etag,
            "t": self.stored_at,
            "x": self.expires_at,
            "d": self.digest,
        }
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry | None:
        """The entry in ``data``, or ``None`` when it is not one (another version wrote it)."""
        meta_bytes, separator, body = data.partition(b"\n")
        if not separator:
            return None
        try:
            meta = orjson.loads(meta_bytes)
            if meta.get("v") != 1:
                return None
            return cls(
                status=int(meta["s"]),
                headers=tuple(
                    (str(k).encode("latin-1"), str(v).encode("latin-1")) for k, v in meta["h"]
                ),
                body=body,
                etag=str(meta["e"]),
                stored_at=float(meta["t"]),
                expires_at=float(meta["x"]),
                digest=str(meta.get("d", "")),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None


def strong_etag(body: bytes) -> str:
    """A strong ETag from the body's SHA-256 (128 bits, base64url): ``"q1w2..."``."""
    digest = hashlib.sha256(body).digest()[:16]
    return '"' + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") + '"'


_REQUEST_ID_KEY = b'"request_id"'
_JSON_SPACE = b" \t\r\n"
REQUEST_ID_WINDOW = 512
"""Bytes at each end of a body where the request id is looked for: where the envelope puts
``meta`` (first; last when a jsonifier sorts keys), whatever the body's size."""


def without_request_id(body: bytes, request_id: str) -> bytes | None:
    """``body`` without the value of its ``"request_id": "<request_id>"`` member, or ``None``
    when it has none. The member is looked for where the envelope writes ``meta``: in the
    first :data:`REQUEST_ID_WINDOW` bytes (the first such member), else in the last ones.
    Only that JSON member counts: the id's bytes elsewhere are content (a client may choose
    a short id such as ``1``)."""
    value = orjson.dumps(request_id)  # as every JSON encoder writes it (visible ASCII only)
    size = len(body)
    for start, end in ((0, REQUEST_ID_WINDOW), (max(0, size - REQUEST_ID_WINDOW), size)):
        while (index := body.find(value, start, end)) >= 0:
            start = index + 1
            position = _before_space(body, index)
            if body[position - 1 : position] != b":":
                continue
            position = _before_space(body, position - 1)
            if body.endswith(_REQUEST_ID_KEY, 0, position):
                return body[:index] + body[index + len(value) :]
    return None


def _before_space(body: bytes, position: int) -> int:
    while position > 0 and body[position - 1] in _JSON_SPACE:
        position -= 1
    return position


def body_etag(body: bytes, request_id: str | None) -> str:
    """The ETag of a response body: strong (:func:`strong_etag`), or, when the body carries
    the request id (the envelope's ``meta.request_id``), weak and computed without it: two
    responses then differ in their bytes, not in their content (RFC 9110 §8.8.1)."""
    if request_id:
        stripped = without_request_id(body, request_id)
        if stripped is not None:
            return "W/" + strong_etag(stripped)
    return strong_etag(body)


def is_weak(etag: str) -> bool:
    return etag.startswith("W/")


def normalized_query(query_string: bytes) -> str:
    """The query, decoded and re-encoded, sorted by name; repeated names keep their order."""
    if not query_string:
        return ""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    return urlencode(pairs)


def request_headers(scope: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """``name=value`` for each of ``names`` (lower-case) in the request; repeated headers are
    joined, absent ones are empty."""
    wanted: dict[bytes, list[bytes]] = {name.encode("latin-1"): [] for name in names}
    for key, value in scope.get("headers", ()):
        found = wanted.get(key.lower())
        if found is not None:
            found.append(value)
    return [
        f"{name}={b','.join(wanted[name.encode('latin-1')]).decode('latin-1')}" for name in names
    ]


def cache_key(
    prefix: str,
    scope: Mapping[str, Any],
    vary: Sequence[str],
    credentials: Sequence[str],
) -> str:
    """The key of a request: method (HEAD is GET), scheme and host (bodies may hold absolute
    URLs, such as pagination links), path, normalized query, the values of the ``vary``
    headers, and a hash of the ``credentials`` headers (empty for shared routes)."""
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    parts = [
        "GET",
        str(scope.get("scheme", "http")),
        "\x1f".join(request_headers(scope, ["host"])),
        path.decode("latin-1"),
        normalized_query(scope.get("query_string", b"")),
        "\x1f".join(request_headers(scope, sorted(vary))),
        "\x1f".join(request_headers(scope, credentials)),
    ]
    digest = hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogateescape")).digest()
    return prefix + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Slot:
    """Where one request's entry lives, as its backend resolved it at lookup."""

    base: str
    """The request's key (:func:`cache_key`)."""
    path: str
    """The request's path, percent-decoded: what invalidation matches."""
    suffix: str = ""
    """Redis: the path's invalidation generations, folded into the key."""
    fence: int = 0
    """Memory: the invalidation count when the request looked up (see ``MemoryCache``)."""

    @property
    def key(self) -> str:
        return self.base + self.suffix

    def rekey(self, base: str) -> Slot:
        """The same slot for another key of the same path (a ``Vary`` learnt meanwhile)."""
        return replace(self, base=base)


class Backend(Protocol):
    """Where entries live."""

    name: str

    async def lookup(self, base: str, path: str) -> tuple[Slot, Entry | None]:
        """The slot of a request (key ``base``, path ``path``) and the entry in it, if any."""

    async def store(self, slot: Slot, entry: Entry) -> None:
        """Keep ``entry`` in ``slot``, unless an invalidation of its path came after its
        lookup (the entry may hold what was there before a write)."""

    def current(self, slot: Slot) -> bool:
        """Whether no invalidation of ``slot``'s path came after its lookup."""

    async def invalidate(self, paths: list[str], prefixes: list[str], keep: float) -> bool:
        """Drop the entries of ``paths`` (every query, host, credential of each) and of every
        path under ``prefixes`` (as :func:`prefix_of` gives them). ``keep``: seconds an entry
        may live, at most. ``False`` when the backend failed (logged)."""

    async def health(self) -> dict[str, Any]: ...

    async def start(self) -> None:
        """Called at the server's start-up, on its event loop."""

    async def close(self) -> None:
        """Called at the server's shutdown: release connections."""


class MemoryCache:
    """An LRU bounded in entries and bytes, for one process.

    Safe from any thread: the server's loop looks up and stores, while invalidations may
    come from a view's thread (``invalidate`` without a running server), from the loop of
    ``async def`` views, or from any other loop. A lock (never held across an ``await``)
    makes each operation atomic.

    Invalidation removes entries by path (an index of each path's keys). A request that was
    running its view meanwhile must not store what it read before the write: each
    invalidation is numbered and logged (the last ``log_size``), a slot remembers the number
    it saw, and a store checks that no later invalidation covers its path.
    """

    name = "memory"

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        on_evict: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
        log_size: int = 1024,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.on_evict = on_evict
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._path_of: dict[str, str] = {}
        self._keys_of: dict[str, set[str]] = {}
        self.bytes = 0
        self.invalidations = 0
        self._log: deque[tuple[int, bool, str]] = deque(maxlen=log_size)
        """(number, is a prefix, path) of the latest invalidations."""

    def __len__(self) -> int:
        return len(self._entries)

    async def lookup(self, base: str, path: str) -> tuple[Slot, Entry | None]:
        with self._lock:
            return Slot(base, path, fence=self.invalidations), self._get(base)

    async def get(self, key: str) -> Entry | None:
        with self._lock:
            return self._get(key)

    def _get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def store(self, slot: Slot, entry: Entry) -> None:
        evicted = 0
        with self._lock:
            if self._current(slot):
                evicted = self._set(slot.key, entry, slot.path)
        if evicted and self.on_evict is not None:
            self.on_evict(evicted)

    def current(self, slot: Slot) -> bool:
        with self._lock:
            return self._current(slot)

    def _current(self, slot: Slot) -> bool:
        if slot.fence == self.invalidations:
            return True
        log = self._log
        if not log or log[0][0] > slot.fence + 1:  # the log no longer goes back that far
            return False
        return not any(
            number > slot.fence and (covers(path, slot.path) if prefix else path == slot.path)
            for number, prefix, path in log
        )

    async def set(self, key: str, entry: Entry, path: str = "") -> None:
        with self._lock:
            evicted = self._set(key, entry, path)
        if evicted and self.on_evict is not None:
            self.on_evict(evicted)

    def _set(self, key: str, entry: Entry, path: str) -> int:
        """Keep ``entry``; the number of live entries evicted to make room."""
        size = entry.size
        if size > self.max_bytes:
            return 0
        if key in self._entries:
            self._remove(key)
        self._entries[key] = entry
        self._path_of[key] = path
        self._keys_of.setdefault(path, set()).add(key)
        self.bytes += size
        evicted = 0
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            oldest, old = next(iter(self._entries.items()))
            self._remove(oldest)
            if old.expires_at > self.clock():
                evicted += 1
        return evicted

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
        path = self._path_of.pop(key)
        keys = self._keys_of[path]
        keys.discard(key)
        if not keys:
            del self._keys_of[path]

    async def invalidate(self, paths: list[str], prefixes: list[str], keep: float) -> bool:
        with self._lock:
            for path in paths:
                self.invalidations += 1
                self._log.append((self.invalidations, False, path))
                for key in list(self._keys_of.get(path, ())):
                    self._remove(key)
            for prefix in prefixes:
                self.invalidations += 1
                self._log.append((self.invalidations, True, prefix))
                for path in [path for path in self._keys_of if covers(prefix, path)]:
                    for key in list(self._keys_of[path]):
                        self._remove(key)
        return True

    async def health(self) -> dict[str, Any]:
        return {
            "status": "up",
            "backend": self.name,
            "entries": len(self._entries),
            "bytes": self.bytes,
            "max_entries": self.max_entries,
            "max_bytes": self.max_bytes,
        }

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        """Nothing to release: entries stay for a server restarted in the same process."""
        return None


def storable_headers(headers: Headers) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower(), v) for k, v in headers if k.lower() not in UNSTORED_HEADERS)
