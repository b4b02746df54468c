"""Per-route switches, as decorators on operation handlers (connexion-plus's names included).

A decorator only records options on the function (``__chassis_optimizer__``); the optimizer
reads them once, when the API is registered. Put them above or below other decorators that
use :func:`functools.wraps` (which copies the options); a wrapper that does not use it hides
them. The spec's ``x-chassis-*`` extensions of an operation win over its decorators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

ROUTE_OPTIONS = "__chassis_optimizer__"
"""The attribute holding a handler's options."""

DAY = 24 * 60 * 60

F = TypeVar("F", bound=Callable[..., Any])


def route_options(function: Any) -> dict[str, Any]:
    """The options the decorators recorded on ``function`` (empty when none)."""
    options = getattr(function, ROUTE_OPTIONS, None)
    return dict(options) if isinstance(options, dict) else {}


def _mark(function: F, options: dict[str, Any]) -> F:
    # A copy: functools.wraps shares the wrapped function's __dict__ with its wrapper.
    merged = {**route_options(function), **options}
    setattr(function, ROUTE_OPTIONS, merged)
    return function


def _decorator(function: F | None, options: dict[str, Any]) -> Any:
    if function is None:
        return lambda inner: _mark(inner, options)
    if not callable(function):
        raise TypeError(f"expected a function to decorate, got {function!r}")
    return _mark(function, options)


@overload
def do_not_minify(function: F) -> F: ...
@overload
def do_not_minify(function: None = None) -> Callable[[F], F]: ...
def do_not_minify(function: F | None = None) -> Any:
    """Send this route's responses as they are: JSON indented, HTML not minified.

    Works with and without parentheses: ``@do_not_minify`` or ``@do_not_minify()``.
    """
    return _decorator(function, {"minify": False})


@overload
def do_minify(function: F) -> F: ...
@overload
def do_minify(function: None = None) -> Callable[[F], F]: ...
def do_minify(function: F | None = None) -> Any:
    """Minify this route's responses even when ``minify`` is off globally."""
    return _decorator(function, {"minify": True})


@overload
def do_not_compress(function: F) -> F: ...
@overload
def do_not_compress(function: None = None) -> Callable[[F], F]: ...
def do_not_compress(function: F | None = None) -> Any:
    """Never compress this route's responses (e.g. secrets next to reflected input: BREACH)."""
    return _decorator(function, {"compress": False})


@overload
def do_compress(function: F) -> F: ...
@overload
def do_compress(function: None = None) -> Callable[[F], F]: ...
def do_compress(function: F | None = None) -> Any:
    """Compress this route's responses even when ``compress`` is off globally."""
    return _decorator(function, {"compress": True})


@overload
def do_not_cache(function: F) -> F: ...
@overload
def do_not_cache(function: None = None) -> Callable[[F], F]: ...
def do_not_cache(function: F | None = None) -> Any:
    """Keep this route out of the response cache (and send no ``Cache-Control``), even when
    ``cache`` is on globally."""
    return _decorator(function, {"cache": False})


def _cache_options(
    seconds: int,
    shared: bool | None,
    max_age: int | None,
    vary: Iterable[str] | None,
) -> dict[str, Any]:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(f"cache timeout must be a whole number of seconds >= 0, not {seconds!r}")
    options: dict[str, Any] = {"cache": seconds if seconds > 0 else False}
    if shared is not None:
        options["shared"] = bool(shared)
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age must be a whole number of seconds >= 0, not {max_age!r}")
        options["max_age"] = max_age
    if vary is not None:
        if isinstance(vary, str):
            vary = [vary]
        options["vary"] = tuple(str(name) for name in vary)
    return options


def set_cache_timeout(
    seconds: Any = DAY,
    *,
    shared: bool | None = None,
    max_age: int | None = None,
    vary: Iterable[str] | None = None,
) -> Any:
    """Cache this route's GET responses for ``seconds`` (default 24 hours, as connexion-plus).

    The response gets ``Cache-Control: public, max-age=<seconds>`` (``private`` when the
    request carried credentials) and a strong ``ETag``, and is kept in the server-side
    response cache, so that an identical request within ``seconds`` does not run the view.

    :param seconds: freshness lifetime; ``0`` turns caching off for the route.
    :param shared: ``True`` when the response is the same for every caller even when the
        request carries ``Authorization`` or ``Cookie``: then one entry serves them all.
        By default a credentialed response is cached only for the same credentials.
    :param max_age: the ``Cache-Control`` max-age, when it should differ from ``seconds``
        (``0``: clients revalidate with the ETag each time, the server still caches).
    :param vary: request headers the response depends on (added to the cache key); headers
        named in the response's own ``Vary`` are learnt automatically.

    Usable bare (``@set_cache_timeout``) or called (``@set_cache_timeout(60)``).
    """
    if callable(seconds):
        return _mark(seconds, _cache_options(DAY, shared, max_age, vary))
    options = _cache_options(seconds, shared, max_age, vary)
    return lambda function: _mark(function, options)


def optimize(
    *,
    compress: bool | None = None,
    minify: bool | None = None,
    cache: bool | int | None = None,
    shared: bool | None = None,
    max_age: int | None = None,
    vary: Iterable[str] | None = None,
) -> Callable[[F], F]:
    """Set several per-route switches at once; ``None`` leaves a switch to the settings.

    ``cache`` is ``True`` (the ``cache_ttl`` setting), ``False`` or a number of seconds.
    """
    options: dict[str, Any] = {}
    if compress is not None:
        options["compress"] = bool(compress)
    if minify is not None:
        options["minify"] = bool(minify)
    if cache is not None and not isinstance(cache, bool):
        options.update(_cache_options(cache, shared, max_age, vary))
    else:
        if cache is not None:
            options["cache"] = cache
        options.update(
            {k: v for k, v in _cache_options(1, shared, max_age, vary).items() if k != "cache"}
        )
    return lambda function: _mark(function, options)


class FlaskOptimize:
    """connexion-plus's ``FlaskOptimize`` names, so its users change only the import::

    from chassis_optimizer import FlaskOptimize

    @FlaskOptimize.do_not_minify()
    @FlaskOptimize.set_cache_timeout(60)
    def search(): ...
    """

    do_not_minify = staticmethod(do_not_minify)
    do_not_compress = staticmethod(do_not_compress)
    set_cache_timeout = staticmethod(set_cache_timeout)
    do_minify = staticmethod(do_minify)
    do_compress = staticmethod(do_compress)
    do_not_cache = staticmethod(do_not_cache)
    optimize = staticmethod(optimize)
