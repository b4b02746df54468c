"""What the optimizer does for one operation: settings, then decorators, then the spec."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._decorators import route_options
from ._settings import OptimizerSettings

CACHE_EXTENSION = "x-chassis-cache"
COMPRESS_EXTENSION = "x-chassis-compress"
MINIFY_EXTENSION = "x-chassis-minify"

_CACHE_KEYS = {"enabled", "ttl", "shared", "max_age", "vary"}


@dataclass(frozen=True)
class RoutePolicy:
    """The optimizer's decisions for one operation (or the global ones, for everything else)."""

    compress: bool
    minify: bool
    cache_ttl: int | None = None
    """Seconds a GET response stays fresh in the server cache; ``None``: not cached."""
    max_age: int | None = None
    """``Cache-Control: max-age`` of GET/HEAD 200 responses; ``None``: no ``Cache-Control``."""
    shared: bool = False
    """One cache entry for every caller, credentials or not."""
    vary: tuple[str, ...] = ()
    """Lower-case request headers that are part of the cache key."""
    credential_headers: tuple[str, ...] = ()
    """Lower-case request headers that make a response private to its caller."""
    route: str | None = None


def global_policy(settings: OptimizerSettings) -> RoutePolicy:
    """The policy of requests that reached no operation (errors before routing, Swagger UI)."""
    return RoutePolicy(
        compress=settings.compress,
        minify=settings.minify,
        credential_headers=_lower(settings.credential_headers),
    )


def _lower(names: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(name).strip().lower() for name in names if str(name).strip()))


class PolicyError(ValueError):
    """An ``x-chassis-*`` extension or a decorator option has an invalid value."""


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{what} must be true or false, not {value!r}")
    return value


def _seconds(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyError(f"{what} must be a whole number of seconds >= 0, not {value!r}")
    return value


def _cache_from_spec(value: Any, where: str) -> dict[str, Any]:
    """``x-chassis-cache``: ``true``, ``false``, seconds, or ``{ttl, shared, max_age, vary}``."""
    what = f"{CACHE_EXTENSION} of {where}"
    if isinstance(value, bool):
        return {"cache": value}
    if isinstance(value, int):
        seconds = _seconds(value, what)
        return {"cache": seconds if seconds > 0 else False}
    if not isinstance(value, Mapping):
        raise PolicyError(
            f"{what} must be true, false, a number of seconds or a mapping with "
            f"{', '.join(sorted(_CACHE_KEYS))}; got {value!r}"
        )
    unknown = set(value) - _CACHE_KEYS
    if unknown:
        raise PolicyError(
            f"{what}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
            f"known: {', '.join(sorted(_CACHE_KEYS))}"
        )
    options: dict[str, Any] = {}
    enabled = _bool(value.get("enabled", True), f"{what}.enabled")
    if "ttl" in value:
        seconds = _seconds(value["ttl"], f"{what}.ttl")
        options["cache"] = seconds if seconds > 0 and enabled else False
    else:
        options["cache"] = enabled
    if "shared" in value:
        options["shared"] = _bool(value["shared"], f"{what}.shared")
    if "max_age" in value:
        options["max_age"] = _seconds(value["max_age"], f"{what}.max_age")
    if "vary" in value:
        vary = value["vary"]
        if isinstance(vary, str):
            vary = [vary]
        if not isinstance(vary, list) or not all(isinstance(name, str) for name in vary):
            raise PolicyError(f"{what}.vary must be a list of header names, not {vary!r}")
        options["vary"] = tuple(vary)
    return options


def _spec_options(operation: Mapping[str, Any], where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if CACHE_EXTENSION in operation:
        options.update(_cache_from_spec(operation[CACHE_EXTENSION], where))
    if COMPRESS_EXTENSION in operation:
        options["compress"] = _bool(
            operation[COMPRESS_EXTENSION], f"{COMPRESS_EXTENSION} of {where}"
        )
    if MINIFY_EXTENSION in operation:
        options["minify"] = _bool(operation[MINIFY_EXTENSION], f"{MINIFY_EXTENSION} of {where}")
    return options


def _api_key_headers(operation: Any) -> tuple[str, ...]:
    """Header names of the ``apiKey`` security schemes the operation accepts."""
    try:
        requirements = operation.security or []
        schemes = operation.security_schemes or {}
    except AttributeError:
        return ()
    names = []
    for requirement in requirements:
        for scheme_name in requirement or {}:
            scheme = schemes.get(scheme_name) or {}
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                names.append(str(scheme.get("name", "")))
    return _lower(names)


def operation_policy(
    settings: OptimizerSettings,
    operation: Any,
    *,
    method: str,
    route: str,
) -> RoutePolicy:
    """Resolve the policy of one Connexion operation.

    Order, later wins: the settings, the handler's decorators, the operation's ``x-chassis-*``
    extensions. Only GET operations are cached.
    """
    where = f"{method.upper()} {route}"
    options = route_options(getattr(operation, "function", None))
    raw = getattr(operation, "_operation", None)
    if isinstance(raw, Mapping):
        options.update(_spec_options(raw, where))

    base = global_policy(settings)
    cache = options.get("cache", settings.cache_all)
    ttl: int | None
    if cache is True:
        ttl = settings.cache_ttl
    elif cache is False or cache is None:
        ttl = None
    else:
        ttl = _seconds(cache, f"cache timeout of {where}") or None
    if method.upper() != "GET":
        ttl = None
    max_age = options.get("max_age", ttl) if ttl is not None else None
    return replace(
        base,
        compress=bool(options.get("compress", base.compress)),
        minify=bool(options.get("minify", base.minify)),
        cache_ttl=ttl,
        max_age=max_age,
        shared=bool(options.get("shared", False)),
        vary=_lower(options.get("vary", ())),
        credential_headers=_lower([*base.credential_headers, *_api_key_headers(operation)]),
        route=route,
    )
