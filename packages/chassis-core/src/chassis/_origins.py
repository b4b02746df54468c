"""Where a setting's value came from, so that an error names the real source.

Sources, highest first: keyword arguments (``App(settings=...)``, a connexion-plus ``use_*``
keyword), the environment, the dotenv file, the TOML file named by ``CHASSIS_CONFIG``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class Overrides(dict[str, Any]):
    """Keyword settings, with the keyword each came from when it was not ``settings=``."""

    def __init__(self, values: Mapping[str, Any], keywords: Mapping[str, str] | None = None):
        super().__init__(values)
        self.keywords: dict[str, str] = dict(keywords or {})
        """``"cors.enabled"`` -> ``"use_cors=True"``: settings that connexion-plus keywords set."""


def _lookup(data: Mapping[str, Any], key: Sequence[str]) -> bool:
    node: Any = data
    for part in key:
        if not isinstance(node, Mapping):
            return False
        matches = [k for k in node if str(k).lower() == part.lower()]
        if not matches:
            return False
        node = node[matches[0]]
    return True


def origin_of(loc: Sequence[Any], overrides: Mapping[str, Any]) -> str | None:
    """The source of the value at ``loc`` when it is not the environment variable of that
    name (``None`` then, or when the value is a default)."""
    from ._settings import CONFIG_FILE_VARIABLE, _config_file, _env_file, variable_name

    key = [str(part) for part in loc]
    keywords = getattr(overrides, "keywords", {})
    for depth in range(len(key), 0, -1):
        found = keywords.get(".".join(key[:depth]))
        if found is not None:
            return f"the keyword argument {found}"
    if _lookup(overrides, key):
        return f"App(settings=...) key {'.'.join(key)!r}"
    variable = variable_name(key)
    if any(name.upper() == variable for name in os.environ):
        return None
    env_file = _env_file()
    if env_file is not None:
        from dotenv import dotenv_values

        if any(name.upper() == variable for name in dotenv_values(env_file)):
            return f"{variable} in {env_file}"
    config = _config_file()
    if config is not None and _lookup(_read_toml(config), key):
        return f"{'.'.join(key)} in {config} ({CONFIG_FILE_VARIABLE})"
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
    except (OSError, ValueError):
        return {}
    return data
