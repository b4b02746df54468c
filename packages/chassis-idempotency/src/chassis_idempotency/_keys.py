"""The ``Idempotency-Key`` value, the request's fingerprint, and the store's key names."""

from __future__ import annotations

import base64
import hashlib


class InvalidKey(ValueError):
    """The header's value is not a usable key (the message says why)."""


def parse_key(raw: bytes, max_length: int) -> str:
    """The key in a header value.

    The IETF draft makes the field a Structured Field string (``"8e03978e-..."``, quoted,
    with ``\\"`` and ``\\\\`` escapes); clients written for Stripe's API send it bare. Both are
    accepted: a quoted value is unquoted, a bare one must be visible ASCII without spaces.
    """
    try:
        text = raw.decode("ascii").strip(" \t")
    except UnicodeDecodeError:
        raise InvalidKey("must be ASCII") from None
    if text.startswith('"'):
        text = _unquote(text)
    elif not text:
        raise InvalidKey("must not be empty")
    elif any(not 0x21 <= ord(char) <= 0x7E for char in text):
        raise InvalidKey('must be visible ASCII without spaces, or a quoted string ("...")')
    if not text:
        raise InvalidKey("must not be empty")
    if len(text) > max_length:
        raise InvalidKey(f"must be at most {max_length} characters long")
    return text


def _unquote(text: str) -> str:
    chars: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 1
            if index >= len(text) or text[index] not in '"\\':
                raise InvalidKey('a quoted key may only escape " and \\')
            chars.append(text[index])
        elif char == '"':
            if index != len(text) - 1:
                raise InvalidKey("has characters after its closing quote")
            return "".join(chars)
        elif not 0x20 <= ord(char) <= 0x7E:
            raise InvalidKey("must be printable ASCII")
        else:
            chars.append(char)
        index += 1
    raise InvalidKey("has no closing quote")


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the body's SHA-256."""
    digest = hashlib.sha256()
    digest.update(method.encode("ascii", "replace"))
    digest.update(b"\n")
    digest.update(path.encode("utf-8", "surrogateescape"))
    digest.update(b"?")
    digest.update(query)
    digest.update(b"\n")
    digest.update(hashlib.sha256(body).digest())
    return base64.urlsafe_b64encode(digest.digest()[:24]).decode("ascii")


def record_key(prefix: str, principal: str, key: str) -> str:
    """The store's name for ``key`` of ``principal``: neither appears in clear (keys may be
    chosen by clients, principals may be e-mail addresses). The braces are a Redis Cluster
    hash tag: the record and its lock live on one node, so one script updates both."""
    digest = hashlib.sha256(
        principal.encode("utf-8", "surrogateescape") + b"\0" + key.encode("ascii")
    ).digest()
    return prefix + "{" + base64.urlsafe_b64encode(digest[:21]).decode("ascii") + "}"
