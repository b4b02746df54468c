"""Limit declarations (the ``x-chassis-ratelimit`` extension, the ``default_limits`` and
``overrides`` settings) turned into :class:`Policy` objects, once per operation.

A declaration is one of

- a mapping ``{limit: 100, per: 1m}`` (``per``: seconds, or a number with ``s``, ``m``,
  ``h`` or ``d``; optional ``name``, the policy's name in the header fields, and ``key``,
  what the requests are counted by);
- a string in the notation of the ``limits`` package: ``"100/minute"``,
  ``"10 per second; 1000 per day"``;
- a list of those (every limit applies: a request must fit in each);
- ``false`` (or an empty list): no limit, even where ``default_limits`` would apply one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, RateLimitItemPerSecond, parse_many

KeySource = Literal["subject", "api_key", "address"]
KEY_SOURCES: tuple[KeySource, ...] = ("subject", "api_key", "address")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ALLOWED_KEYS = frozenset({"limit", "per", "name", "key"})


@dataclass(frozen=True)
class Policy:
    """One quota: ``limit`` requests per ``window`` seconds for each key."""

    limit: int
    window: int
    name: str
    key: tuple[KeySource, ...] | None
    """What requests are counted by, first available wins; ``None``: the ``key_by`` setting."""
    item: RateLimitItem

    @property
    def field(self) -> str:
        """The policy as a ``RateLimit-Policy`` list member: ``"name";q=100;w=60``."""
        return f"{sf_string(self.name)};q={self.limit};w={self.window}"


def sf_string(value: str) -> str:
    """A structured-field String (RFC 9651): quoted, with ``\\`` and ``"`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_duration(value: Any) -> int:
    """Seconds from ``60``, ``"60"``, ``"60s"``, ``"1m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError(f"'per' must be a duration such as 1s, 10s, 1m, 1h, 1d (got {value!r})")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(
                f"'per' must be a duration such as 1s, 10s, 1m, 1h, 1d (got {value!r})"
            )
        seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds < 1:
        raise ValueError(f"'per' must be at least one second (got {value!r})")
    return seconds


def _short(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _policy(limit: int, window: int, name: str | None, key: Any) -> Policy:
    if name is None:
        name = f"{limit}-per-{_short(window)}"
    elif not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"'name' must be 1-64 letters, digits and _ . : - (got {name!r})")
    return Policy(limit, window, name, parse_key(key), RateLimitItemPerSecond(limit, window))


def parse_key(value: Any) -> tuple[KeySource, ...] | None:
    """``key``: one of subject, api_key, address, or a list of them (first available wins)."""
    if value is None:
        return None
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"'key' must be one or more of {', '.join(KEY_SOURCES)} (got {value!r})")
    found: list[KeySource] = []
    for item in items:
        if item not in KEY_SOURCES:
            raise ValueError(
                f"'key' must be one or more of {', '.join(KEY_SOURCES)} (got {item!r})"
            )
        found.append(item)
    return tuple(dict.fromkeys(found))


def _from_mapping(value: dict[str, Any]) -> Policy:
    unknown = sorted(set(value) - _ALLOWED_KEYS)
    if unknown:
        raise ValueError(
            f"unknown field {', '.join(map(repr, unknown))} (a limit has limit, per, name, key)"
        )
    limit = value.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"'limit' must be a whole number of at least 1 (got {limit!r})")
    if "per" not in value:
        raise ValueError("'per' is missing (a duration such as 1s, 1m, 1h)")
    return _policy(limit, parse_duration(value["per"]), value.get("name"), value.get("key"))


def _from_string(value: str) -> list[Policy]:
    try:
        items = parse_many(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a limit: write '100/minute', '10 per second; 1000 per day' "
            "or {limit: 100, per: 1m}"
        ) from None
    return [_policy(item.amount, item.get_expiry(), None, None) for item in items]


def parse_policies(value: Any) -> tuple[Policy, ...]:
    """The policies of one declaration (see the module's documentation); raises ValueError."""
    if value is False or value is None:
        return ()
    if isinstance(value, str):
        policies = _from_string(value)
    elif isinstance(value, dict):
        policies = [_from_mapping(value)]
    elif isinstance(value, Sequence):
        policies = []
        for item in value:
            if isinstance(item, str):
                policies.extend(_from_string(item))
            elif isinstance(item, dict):
                policies.append(_from_mapping(item))
            else:
                raise ValueError(f"a limit is a mapping or a string (got {item!r})")
    else:
        raise ValueError(
            f"expected {{limit: 100, per: 1m}}, a list of them, '100/minute' or false "
            f"(got {value!r})"
        )
    names = [policy.name for policy in policies]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"two limits share the name {', '.join(map(repr, twice))}: name them")
    return tuple(policies)
