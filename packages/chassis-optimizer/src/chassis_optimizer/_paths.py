"""Paths as invalidation sees them: a prefix covers a path by whole segments.

A prefix is kept without its trailing slashes, the root being ``""``: ``/premises`` covers
``/premises``, ``/premises/`` and ``/premises/7/notes``, not ``/premises-archive``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

MAX_DEPTH = 32
"""Prefixes deeper than this many segments invalidate their ancestor of this depth."""


def check_path(path: object, what: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{what} must be a URL path starting with '/', not {path!r}")
    return path


def as_list(value: str | Iterable[str] | None, what: str) -> list[str]:
    """``"/a"`` or ``["/a", "/b"]`` or ``None`` -> a list of checked paths."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [check_path(item, what) for item in items]


@lru_cache(maxsize=4096)
def ancestors(path: str) -> tuple[str, ...]:
    """Every prefix that covers ``path``, the root ``""`` first, at most ``MAX_DEPTH + 1``:
    ``/a/b`` -> ``("", "/a", "/a/b")``; ``/a/`` -> ``("", "/a")``."""
    found = [""]
    index = path.find("/", 1)
    while index != -1 and len(found) <= MAX_DEPTH:
        if path[index - 1] != "/":
            found.append(path[:index])
        index = path.find("/", index + 1)
    if len(found) <= MAX_DEPTH and path and not path.endswith("/"):
        found.append(path)
    return tuple(found)


def prefix_of(path: str) -> str:
    """``path`` as a prefix: without trailing slashes, no deeper than ``MAX_DEPTH`` segments
    (a deeper one is replaced by its ancestor, which covers more)."""
    stripped = path.rstrip("/")
    if not stripped:
        return ""
    covering = ancestors(stripped)
    return stripped if covering[-1] == stripped else covering[-1]


def covers(prefix: str, path: str) -> bool:
    """Whether ``prefix`` (as :func:`prefix_of` gives it) covers ``path``."""
    return path == prefix or path.startswith(prefix + "/")


def parent(path: str) -> str:
    """The collection a path is in: ``/premises/7`` -> ``/premises``; ``/premises`` -> ``/``."""
    head = path.rstrip("/").rpartition("/")[0]
    return head or "/"
