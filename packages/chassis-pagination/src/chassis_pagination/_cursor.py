"""Opaque, tamper-evident cursors: a keyset position signed with HMAC-SHA256 (itsdangerous).

A cursor holds the sort-key values of the row it starts after (``"n"``, forwards) or before
(``"p"``, backwards), or says "the last page" (``"l"``), and a fingerprint of the sort order,
so a cursor is only accepted by a listing sorted the same way. Clients cannot read the values
without decoding base64, nor change them without the secret.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from itsdangerous import BadData, URLSafeSerializer

from ._errors import InvalidPageParameter
from ._params import CURSOR

logger = logging.getLogger("chassis.pagination")

Direction = Literal["n", "p", "l"]
"""``n``: rows after ``values``; ``p``: rows before ``values``; ``l``: the last page."""

_SALT = "chassis-pagination.cursor.v1"
_FORGED = "is not a cursor this service issued (forged, altered or truncated)"


@dataclass(frozen=True)
class Position:
    """Where a keyset page starts."""

    direction: Direction
    values: tuple[Any, ...] = ()
    fingerprint: str = ""


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"d": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"t": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    raise TypeError(
        f"cannot put a {type(value).__name__} sort key in a cursor: keyset columns must hold "
        "str, int, float, bool, Decimal, UUID, bytes, date, time or datetime values"
    )


_DECODERS: dict[str, Any] = {
    "dt": datetime.datetime.fromisoformat,
    "d": datetime.date.fromisoformat,
    "t": datetime.time.fromisoformat,
    "dec": decimal.Decimal,
    "uuid": uuid.UUID,
    "hex": bytes.fromhex,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _DECODERS[tag](text)
    return value


class CursorCodec:
    """Signs and checks cursors with one secret."""

    def __init__(self, secret: str | bytes) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def encode(self, position: Position) -> str:
        payload: dict[str, Any] = {"d": position.direction, "f": position.fingerprint}
        if position.direction != "l":
            payload["k"] = [_encode_value(value) for value in position.values]
        token: str = self._serializer.dumps(payload)
        return token

    def decode(self, token: str) -> Position:
        """The position in ``token``.

        :raises InvalidPageParameter: the token was not signed with this secret, or is malformed.
        """
        try:
            payload = self._serializer.loads(token)
        except BadData:
            raise InvalidPageParameter(CURSOR, _FORGED) from None
        try:
            direction = payload["d"]
            if direction not in ("n", "p", "l"):
                raise ValueError(direction)
            values = () if direction == "l" else tuple(_decode_value(v) for v in payload["k"])
            return Position(direction, values, str(payload["f"]))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            raise InvalidPageParameter(CURSOR, "is malformed") from None


@lru_cache(maxsize=1)
def process_codec() -> CursorCodec:
    """The codec of apps without ``cursor_secret``: a random key made once per process."""
    return CursorCodec(secrets.token_bytes(32))


def fingerprint(description: Sequence[str]) -> str:
    """A short digest of a sort order, so a cursor only fits the listing that issued it."""
    return hashlib.sha256("\x1f".join(description).encode()).hexdigest()[:16]
