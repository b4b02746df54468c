"""Effective limits of one listing, and the ``offset``/``limit``/``cursor`` query parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

from ._errors import InvalidPageParameter
from ._settings import OFFSET_CEILING

OFFSET = "offset"
LIMIT = "limit"
CURSOR = "cursor"
PAGE_PARAMETERS = (OFFSET, LIMIT, CURSOR)

MAX_CURSOR_LENGTH = 2048

_INTEGER = re.compile(r"-?[0-9]+")
_MAX_DIGITS = 30  # longer numbers are out of range anyway; int() of huge strings is slow
_OUT_OF_RANGE: int = 10**_MAX_DIGITS


@dataclass(frozen=True)
class Limits:
    """Page sizes and totals in force for one listing (settings < operation < ``paginate``)."""

    default_limit: int = 25
    max_limit: int = 100
    max_offset: int | None = None
    total: bool = False

    def merged(self, overrides: Mapping[str, Any]) -> Limits:
        """These limits with ``overrides`` (``None`` values ignored) applied.

        A lower ``max_limit`` alone also lowers ``default_limit``; both given and inconsistent
        is a ``ValueError``.
        """
        given = {key: value for key, value in overrides.items() if value is not None}
        if not given:
            return self
        merged = replace(self, **given)
        if merged.default_limit > merged.max_limit:
            if "default_limit" in given and "max_limit" in given:
                raise ValueError(
                    f"default_limit ({merged.default_limit}) must not exceed "
                    f"max_limit ({merged.max_limit})"
                )
            if "default_limit" in given:
                raise ValueError(
                    f"default_limit ({merged.default_limit}) exceeds the max_limit in force "
                    f"({merged.max_limit})"
                )
            merged = replace(merged, default_limit=merged.max_limit)
        return merged


@dataclass(frozen=True)
class PageRequest:
    """What the client asked for; ``offset``/``cursor`` are ``None`` when not given."""

    limit: int
    offset: int | None = None
    cursor: str | None = None


def query_values(query_string: bytes) -> dict[str, list[str]]:
    """The values of the pagination parameters in a raw query string."""
    values: dict[str, list[str]] = {}
    if not query_string:
        return values
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in PAGE_PARAMETERS:
            values.setdefault(name, []).append(value)
    return values


def _single(values: Mapping[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    if not given:
        return None
    if len(given) > 1:
        raise InvalidPageParameter(name, "must be given at most once")
    return given[0]


def _integer(name: str, raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise InvalidPageParameter(name, "must be an integer", raw)
    if len(raw.lstrip("-")) > _MAX_DIGITS:
        return -_OUT_OF_RANGE if raw.startswith("-") else _OUT_OF_RANGE
    return int(raw)


def check_offset(offset: int, limits: Limits, given: str | None = None) -> int:
    shown = str(offset) if given is None else given
    if offset < 0:
        raise InvalidPageParameter(OFFSET, "must not be negative", shown)
    ceiling = OFFSET_CEILING if limits.max_offset is None else limits.max_offset
    if offset > ceiling:
        reason = f"must be at most {ceiling}"
        if limits.max_offset is not None:
            reason += "; page deeper with a cursor"
        raise InvalidPageParameter(OFFSET, reason, shown)
    return offset


def check_limit(limit: int, limits: Limits, given: str | None = None) -> int:
    shown = str(limit) if given is None else given
    if limit < 1:
        raise InvalidPageParameter(LIMIT, "must be at least 1", shown)
    if limit > limits.max_limit:
        raise InvalidPageParameter(LIMIT, f"must be at most {limits.max_limit}", shown)
    return limit


def check_cursor(cursor: str) -> str:
    if not cursor:
        raise InvalidPageParameter(CURSOR, "must not be empty", cursor)
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidPageParameter(CURSOR, f"must be at most {MAX_CURSOR_LENGTH} characters long")
    return cursor


def parse_page_request(values: Mapping[str, list[str]], limits: Limits) -> PageRequest:
    """Check the raw ``offset``, ``limit`` and ``cursor`` values against ``limits``.

    :raises InvalidPageParameter: a 400 naming the first bad parameter and why.
    """
    raw_offset = _single(values, OFFSET)
    raw_limit = _single(values, LIMIT)
    raw_cursor = _single(values, CURSOR)
    offset = None
    if raw_offset is not None:
        offset = check_offset(_integer(OFFSET, raw_offset), limits, raw_offset)
    limit = limits.default_limit
    if raw_limit is not None:
        limit = check_limit(_integer(LIMIT, raw_limit), limits, raw_limit)
    cursor = None if raw_cursor is None else check_cursor(raw_cursor)
    return PageRequest(limit=limit, offset=offset, cursor=cursor)
