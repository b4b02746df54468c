"""orjson for Connexion's jsonifier and Flask's JSON provider.

Types: what Connexion's default encoder handles (datetime, date, Decimal, UUID) and keys that
are not strings (``{1: ...}``), like the standard library. orjson writes naive datetimes with
a ``Z`` (as Connexion does) and also UTC-aware ones with ``Z`` where Connexion writes
``+00:00``. Anything orjson refuses (integers beyond 64 bits, unknown types) falls back to
Connexion's own encoder, so a response that serialized before still does.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Callable
from typing import Any, cast

import orjson
from connexion.jsonifier import JSONEncoder, Jsonifier
from flask.json.provider import JSONProvider

_BASE_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_INDENT_OPTIONS = _BASE_OPTIONS | orjson.OPT_INDENT_2


def _default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _stdlib_dumps(data: Any, indent: int | None, sort_keys: bool = False) -> str:
    separators = (",", ":") if indent is None else None
    return json.dumps(
        data, cls=JSONEncoder, indent=indent, separators=separators, sort_keys=sort_keys
    )


class OrjsonJsonifier(Jsonifier):
    """A ``connexion.jsonifier.Jsonifier`` on orjson: compact, or indented for routes that are
    not minified (``minify(route)`` says which, per request)."""

    def __init__(self, minify: Callable[[], bool], indent: int | None = None) -> None:
        super().__init__(json)
        self._minify = minify
        self.indent = indent if indent is not None else 2

    def dumps(self, data: Any, **kwargs: Any) -> str:
        """Serialize ``data``; keyword arguments (``indent``, ``sort_keys``...) are honoured
        through the standard library, as Connexion's own jsonifier would."""
        if kwargs:
            merged = {"cls": JSONEncoder, **kwargs}
            return json.dumps(data, **merged) + "\n"
        compact = self._minify()
        options = _BASE_OPTIONS if compact else _INDENT_OPTIONS
        try:
            if compact or self.indent == 2:
                return orjson.dumps(data, default=_default, option=options).decode() + "\n"
        except (orjson.JSONEncodeError, TypeError):
            pass
        return _stdlib_dumps(data, None if compact else self.indent) + "\n"

    def loads(self, data: Any) -> Any:
        """Parse JSON; text that is not JSON is returned as it is (Connexion's behaviour)."""
        try:
            return orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError):
            return super().loads(data)


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider on orjson (``flask.jsonify``, views returning dicts).

    Honours Flask's ``compact`` (``None``: compact unless debugging), ``sort_keys`` (on, as
    Flask's default provider) and ``mimetype`` attributes.
    """

    compact: bool | None = None
    sort_keys: bool = True
    mimetype = "application/json"

    def _options(self) -> int:
        compact = self.compact if self.compact is not None else not self._app.debug
        options = _BASE_OPTIONS if compact else _INDENT_OPTIONS
        if self.sort_keys:
            options |= orjson.OPT_SORT_KEYS
        return options

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            return json.dumps(obj, cls=JSONEncoder, **kwargs)
        try:
            return orjson.dumps(obj, default=_default, option=self._options()).decode()
        except (orjson.JSONEncodeError, TypeError):
            indent = None if self._options() & orjson.OPT_INDENT_2 == 0 else 2
            return _stdlib_dumps(obj, indent, self.sort_keys)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return json.loads(s, **kwargs)
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        data = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(data, default=_default, option=self._options())
        except (orjson.JSONEncodeError, TypeError):
            body = self.dumps(data).encode()
        app = cast(Any, self._app)
        return app.response_class(body + b"\n", mimetype=self.mimetype)
