"""The OpenAPI components shipped with the package, and ways for a spec to use them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

_SECTIONS = ("parameters", "headers", "schemas")


def components_path() -> Path:
    """The path of the package's OpenAPI components file (``openapi/pagination.yaml``).

    Connexion 3 resolves ``$ref``\\ s to other files (relative to the spec file, or absolute), so
    a spec can say ``$ref: "<path>#/components/parameters/limit"``. Since an installed
    package's path differs between machines, give it to the spec through Connexion's Jinja2
    ``arguments``::

        # openapi.yaml:  - $ref: "{{ pagination }}#/components/parameters/limit"
        app.add_api("openapi.yaml", arguments={"pagination": components_path().as_posix()})
    """
    return Path(str(files("chassis_pagination") / "openapi" / "pagination.yaml"))


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    with components_path().open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.safe_load(stream)
    return loaded["components"]  # type: ignore[no-any-return]


def components() -> dict[str, Any]:
    """A copy of the components: ``{"parameters": {"offset", "limit", "cursor"}, "headers":
    {"Link", "X-Total-Count"}, "schemas": {"PaginationMeta"}}``."""
    return copy.deepcopy(_load())


def with_components(
    spec: str | Path | Mapping[str, Any], *, max_limit: int | None = None
) -> dict[str, Any]:
    """The spec, as a dict, with the package's components added to its ``components``.

    Operations then reference them locally: ``$ref: "#/components/parameters/limit"``. The
    spec's own definitions of the same names win. Pass the result to ``app.add_api``.

    :param spec: the path of a YAML or JSON spec file, or a spec dict (not changed).
    :param max_limit: the ``maximum`` of the ``limit`` parameter, when the service's
        ``max_limit`` is not the default 100 (Connexion validates against it).
    :return: a new spec dict. Relative ``$ref``\\ s to other files in a spec given as a path
        then resolve from the working directory: use absolute ones, or ``components_path()``.
    """
    if isinstance(spec, Mapping):
        merged = copy.deepcopy(dict(spec))
    else:
        with Path(spec).open(encoding="utf-8") as stream:
            merged = yaml.safe_load(stream)
        if not isinstance(merged, dict):
            raise ValueError(f"{spec}: not an OpenAPI document")
    if "openapi" not in merged:
        raise ValueError(
            "with_components() needs an OpenAPI 3 document (Swagger 2 has no components)"
        )
    ours = components()
    if max_limit is not None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        ours["parameters"]["limit"]["schema"]["maximum"] = max_limit
        ours["parameters"]["limit"]["description"] = ours["parameters"]["limit"][
            "description"
        ].replace("(100 unless configured)", f"({max_limit})")
    target = merged.setdefault("components", {})
    for section in _SECTIONS:
        existing = target.setdefault(section, {})
        for name, definition in ours[section].items():
            existing.setdefault(name, definition)
    return merged
