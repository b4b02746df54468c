"""The ``Allow`` header of a 405: every method the specs give the path.

Connexion routes each operation separately, and Starlette's router answers a 405 with the
methods of the first route whose path matched: ``DELETE /premises`` was told ``HEAD, GET``
although the path also takes POST (RFC 9110 15.5.6: Allow lists the target's methods).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ._spec_paths import spec_paths, template_pattern

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


class AllowedMethods:
    """Methods by path template, for the APIs of one app (compiled at the first 405)."""

    def __init__(self, apis: Callable[[], Iterable[Any]]) -> None:
        self._apis = apis
        self._routes: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def _compile(self) -> list[tuple[re.Pattern[str], frozenset[str]]]:
        routes = []
        for api in self._apis():
            for template, item in spec_paths(api):
                methods = {name.upper() for name in item if name.upper() in _METHODS}
                if "GET" in methods:
                    methods.add("HEAD")
                routes.append((re.compile(template_pattern(template)), frozenset(methods)))
        return routes

    def of(self, path: str, method: str) -> str | None:
        """``Allow`` for ``path``: its methods in a fixed order; ``None`` when no path of the
        specs matches it, or when ``method`` is one of them (a 405 a handler raised itself)."""
        if self._routes is None:
            self._routes = self._compile()
        found: set[str] = set()
        for pattern, methods in self._routes:
            if pattern.fullmatch(path):
                found |= methods
        if not found or method in found:
            return None
        return ", ".join(m for m in _METHODS if m in found)
