"""HTTP header parsing: Accept-Encoding, If-None-Match, Vary, Cache-Control, media types.

Every parser here is total: malformed input gives a conservative answer, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

Headers = list[tuple[bytes, bytes]]

_Q_VALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"|([^\s,"]+)')
_MAX_HEADER = 4096


@lru_cache(maxsize=512)
def choose_encoding(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    """The content coding to use for a request's ``Accept-Encoding`` (RFC 9110 §12.5.3).

    ``offered`` is in the server's order of preference, which breaks ties between codings the
    client rates equally. ``None`` means identity: nothing offered is acceptable, ``q=0``
    excluded it, or the client rates ``identity`` higher than every coding offered.
    Elements with an invalid ``q`` are ignored; so is a header longer than 4 KB.
    """
    if not offered or len(accept_encoding) > _MAX_HEADER:
        return None
    ratings: dict[str, float] = {}
    for element in accept_encoding.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = 1.0
        valid = True
        for param in params.split(";") if params else ():
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                if not _Q_VALUE.match(value):
                    valid = False
                    break
                quality = float(value)
        if valid:
            # A coding listed twice: the first wins (as most servers do).
            ratings.setdefault(coding, quality)
    if not ratings:
        return None
    wildcard = ratings.get("*")
    best, best_q = None, 0.0
    for coding in offered:
        quality = ratings.get(coding, wildcard if wildcard is not None else 0.0)
        if quality > best_q:
            best, best_q = coding, quality
    if best is None:
        return None
    identity = ratings.get("identity")
    if identity is not None and identity > best_q:
        return None
    return best


def parse_if_none_match(value: str) -> tuple[bool, frozenset[str]]:
    """``(star, opaque_tags)`` of an ``If-None-Match`` value; weak and strong tags alike
    (the header uses the weak comparison). Unquoted tags are accepted, garbage ignored."""
    if len(value) > _MAX_HEADER:
        return False, frozenset()
    if value.strip() == "*":
        return True, frozenset()
    tags = set()
    for match in _ENTITY_TAG.finditer(value):
        quoted, bare = match.group(2), match.group(3)
        if quoted is not None:
            tags.add(quoted)
        elif bare is not None and bare != "*":
            tags.add(bare[2:] if bare.startswith("W/") else bare)
    return False, frozenset(tags)


def opaque_tag(etag: str) -> tuple[str, bool]:
    """``('abc', weak)`` for ``W/"abc"`` or ``"abc"``; malformed tags are taken as they are."""
    weak = etag.startswith("W/")
    if weak:
        etag = etag[2:]
    if len(etag) >= 2 and etag[0] == '"' and etag[-1] == '"':
        etag = etag[1:-1]
    return etag, weak


def etag_matches(if_none_match: str, etag: str, suffixes: Iterable[str]) -> bool:
    """Whether ``If-None-Match`` matches the current representation's ``etag``.

    A tag the optimizer gave a compressed representation (``"abc-zstd"``) matches ``"abc"``:
    the client holds the same content, decoded.
    """
    star, tags = parse_if_none_match(if_none_match)
    if star:
        return True
    if not tags:
        return False
    current, _ = opaque_tag(etag)
    if current in tags:
        return True
    return any(f"{current}-{suffix}" in tags for suffix in suffixes)


def header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case), or ``None``."""
    for key, value in headers:
        if key == name or key.lower() == name:
            return value
    return None


def header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [value for key, value in headers if key == name or key.lower() == name]


def without(headers: Iterable[tuple[bytes, bytes]], names: Iterable[bytes]) -> Headers:
    drop = frozenset(names)
    return [(key, value) for key, value in headers if key.lower() not in drop]


def vary_names(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    """The field names of every ``Vary`` header, lower-case."""
    names = []
    for value in header_values(headers, b"vary"):
        for item in value.decode("latin-1").split(","):
            item = item.strip().lower()
            if item:
                names.append(item)
    return names


def add_vary(headers: Headers, name: str) -> Headers:
    """Append ``name`` to ``Vary`` (never replacing what is there; no duplicate; ``*`` kept)."""
    present = vary_names(headers)
    if name.lower() in present or "*" in present:
        return headers
    for index, (key, value) in enumerate(headers):
        if key.lower() == b"vary":
            joined = value + b", " + name.encode("latin-1") if value.strip() else name.encode()
            headers[index] = (key, joined)
            return headers
    headers.append((b"vary", name.encode("latin-1")))
    return headers


def cache_directives(value: bytes | None) -> frozenset[str]:
    """The directive names of a ``Cache-Control`` value, lower-case."""
    if not value:
        return frozenset()
    return frozenset(
        part.split("=", 1)[0].strip().lower()
        for part in value.decode("latin-1").split(",")
        if part.strip()
    )


@lru_cache(maxsize=256)
def media_type(content_type: bytes) -> str:
    """``b'application/json; charset=utf-8'`` -> ``'application/json'``."""
    return content_type.split(b";", 1)[0].strip().decode("latin-1").lower()


class MediaTypes:
    """Matches media types against ``type/subtype``, ``type/*`` and ``+suffix`` patterns."""

    def __init__(self, patterns: Iterable[str], never: Iterable[str] = ()) -> None:
        self.exact = frozenset(p for p in patterns if "/" in p and not p.endswith("/*"))
        self.prefixes = tuple(p[:-1] for p in patterns if p.endswith("/*"))
        self.suffixes = tuple(p for p in patterns if p.startswith("+"))
        self.never = frozenset(never)
        self._known: dict[str, bool] = {}

    def __contains__(self, value: str) -> bool:
        found = self._known.get(value)
        if found is None:
            found = value not in self.never and (
                value in self.exact
                or value.startswith(self.prefixes)
                or ("+" in value and value.endswith(self.suffixes))
            )
            if len(self._known) < 1024:
                self._known[value] = found
        return found
