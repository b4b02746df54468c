"""The paths the app's specs declare, as Connexion routes them (each API's base path applied).

One reading of a spec's ``paths`` for what needs it: the ``Allow`` header of a 405
(``_allow``) and the kernel endpoints that give way to the API (``_kernel_endpoints``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_PARAMETER = re.compile(r"\{[^}/]+\}")


def spec_paths(api: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each path template of an API added with ``add_api``, base path included
    (``/v1/items/{id}``), with its path item (``{"get": ..., "parameters": ...}``)."""
    specification = api.specification
    base = (api.base_path if api.base_path is not None else specification.base_path) or ""
    for template, item in (specification.raw.get("paths") or {}).items():
        yield base.rstrip("/") + template, item or {}


def template_pattern(template: str) -> str:
    """A regular expression of the paths a template stands for: each ``{parameter}`` one path
    segment, whatever its type (an ``integer`` one may route fewer), a final ``/`` optional."""
    pieces = _PARAMETER.split(template)
    return "[^/]+".join(re.escape(piece) for piece in pieces) + "/?"


class SpecPaths:
    """Every path the specs declare; calling it with a request's path says whether one does."""

    __slots__ = ("_patterns", "_regex")

    def __init__(self) -> None:
        self._patterns: list[str] = []
        self._regex: re.Pattern[str] | None = None

    def add(self, template: str) -> None:
        self._patterns.append(template_pattern(template))
        # APIs are added before the app starts: one combined expression, compiled per add_api.
        self._regex = re.compile("|".join(f"(?:{p})" for p in self._patterns))

    def __call__(self, path: str) -> bool:
        return self._regex is not None and self._regex.fullmatch(path) is not None
