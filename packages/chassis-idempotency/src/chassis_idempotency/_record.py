"""A stored response: what a retry with the same key and fingerprint gets back."""

from __future__ import annotations

import json
from dataclasses import dataclass

VERSION = 1

# Never stored: per-hop or per-response header fields. The request id header is left out too
# (see IdempotencyState.unstored): the kernel sets the retry's own on every response.
UNSTORED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server"})


@dataclass(frozen=True)
class Record:
    """A completed response and the fingerprint of the request that produced it."""

    fingerprint: str
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def to_bytes(self) -> bytes:
        meta = {
            "v": VERSION,
            "f": self.fingerprint,
            "s": self.status,
            "h": [
                [name.decode("latin-1"), value.decode("latin-1")] for name, value in self.headers
            ],
        }
        return json.dumps(meta, separators=(",", ":")).encode("ascii") + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> Record | None:
        """The record in ``data``, or ``None`` when it is not one (another version wrote it)."""
        meta_bytes, separator, body = data.partition(b"\n")
        if not separator:
            return None
        try:
            meta = json.loads(meta_bytes)
            if meta.get("v") != VERSION:
                return None
            return cls(
                fingerprint=str(meta["f"]),
                status=int(meta["s"]),
                headers=tuple(
                    (str(name).encode("latin-1"), str(value).encode("latin-1"))
                    for name, value in meta["h"]
                ),
                body=body,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def storable_headers(
    headers: list[tuple[bytes, bytes]], skip: frozenset[bytes]
) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name, value) for name, value in headers if name.lower() not in skip)
