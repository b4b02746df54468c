"""One syntax for the paths a feature leaves alone (``exclude_paths`` of every plugin).

A pattern is a path relative to the app (as :func:`chassis.app_path` gives it), matched
exactly, or a glob when it holds ``*``, ``?`` or ``[``: ``*`` matches any run of characters,
slashes included (``/static/*``, ``/ui*``), ``?`` one character, ``[...]`` one of a set.
Matching is case-sensitive, as paths are.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode

from ._listing import split_list


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


class PathPatterns:
    """A set of path patterns; calling it with a path says whether one matches."""

    __slots__ = ("exact", "patterns", "regex")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(patterns))
        self.exact = frozenset(p for p in self.patterns if not _is_glob(p))
        globs = [fnmatch.translate(p) for p in self.patterns if _is_glob(p)]
        self.regex = re.compile("|".join(globs)) if globs else None

    def __call__(self, path: str) -> bool:
        if path in self.exact:
            return True
        return self.regex is not None and self.regex.match(path) is not None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __or__(self, other: Iterable[str]) -> PathPatterns:
        return PathPatterns([*self.patterns, *other])

    def __repr__(self) -> str:
        return f"PathPatterns({list(self.patterns)!r})"


def _check_paths(value: list[str]) -> list[str]:
    for pattern in value:
        if not pattern.startswith("/"):
            raise ValueError(f"{pattern!r}: path patterns start with '/'")
    return value


PathPatternList = Annotated[
    list[str], NoDecode, BeforeValidator(split_list), AfterValidator(_check_paths)
]
"""A setting holding path patterns (see :class:`chassis.PathPatterns`): ``/a,/b/*`` or a
JSON list from the environment, a list from TOML or keywords."""
