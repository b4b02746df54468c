"""``invalidate`` / ``ainvalidate``: application code drops cached responses after a write.

While the server runs, the work runs on its event loop (which owns the Redis client's
connections): awaited directly from a coroutine on that loop, handed to it from a Flask
view's thread or another loop (chassis runs ``async def`` views on a loop of its own).
Without a running server (a script, a test client used without ``with``, uvicorn
``--lifespan off``), it runs in the caller: the memory cache is locked against the server's
concurrent requests, and Redis is reached through a client of the caller's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._paths import as_list

if TYPE_CHECKING:
    from ._state import Optimizer

logger = logging.getLogger("chassis.optimizer")

Paths = str | Iterable[str] | None


def find_optimizer(app: Any) -> Optimizer | None:
    """The optimizer of a chassis app, or of its Flask application (``flask.current_app``
    in a view)."""
    from ._state import STATE_KEY

    find = getattr(app, "plugin_context", None)
    if find is not None:
        context = find(__name__)
        return context.state if context is not None else None
    extensions = getattr(app, "extensions", None)
    found: Optimizer | None = extensions.get(STATE_KEY) if isinstance(extensions, dict) else None
    return found


def describe(paths: list[str], prefixes: list[str]) -> str:
    """``/a, /b, /c*``: what an invalidation covers, for a log message."""
    return ", ".join([*paths, *(f"{prefix}*" for prefix in prefixes)])


def _targets(path: Paths, prefix: Paths) -> tuple[list[str], list[str]]:
    paths, prefixes = as_list(path, "path"), as_list(prefix, "prefix")
    if path is None and prefix is None:
        raise TypeError("invalidate() needs a path or a prefix (prefix='/' for everything)")
    return paths, prefixes


def _owner(optimizer: Optimizer) -> asyncio.AbstractEventLoop | None:
    """The server's loop when it is running (the backend's owner)."""
    loop = optimizer.loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


def _hand_over(
    optimizer: Optimizer, paths: list[str], prefixes: list[str], loop: asyncio.AbstractEventLoop
) -> concurrent.futures.Future[bool] | None:
    """The invalidation scheduled on the server's ``loop``; ``None`` when that loop closed
    meanwhile (the caller then does the work itself)."""
    work = optimizer.invalidate(paths, prefixes)
    try:
        return asyncio.run_coroutine_threadsafe(work, loop)
    except RuntimeError:  # the loop is closed
        work.close()
        return None


def _given_up(paths: list[str], prefixes: list[str], why: str) -> bool:
    logger.warning(
        "response cache: invalidation of %s %s; their entries may be served until they expire",
        describe(paths, prefixes),
        why,
    )
    return False


def _wait(optimizer: Optimizer) -> float:
    """How long a caller waits for the server's loop to do an invalidation."""
    return optimizer.settings.cache_timeout * 2 + 5


async def ainvalidate(app: Any, path: Paths = None, *, prefix: Paths = None) -> bool:
    """Drop cached responses, from async code (an ``async def`` view, the server's loop, any
    other loop). See :func:`invalidate`."""
    paths, prefixes = _targets(path, prefix)
    optimizer = find_optimizer(app)
    if optimizer is None:
        return True
    loop = _owner(optimizer)
    if loop is None or loop is asyncio.get_running_loop():
        return await optimizer.invalidate(paths, prefixes)
    # Another loop (chassis runs async def views on a loop of its own): the backend's
    # connections belong to the server's loop, which does the work.
    handed = _hand_over(optimizer, paths, prefixes, loop)
    if handed is None:
        return await optimizer.invalidate(paths, prefixes)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(handed), _wait(optimizer))
    except asyncio.TimeoutError:
        return _given_up(paths, prefixes, f"took more than {_wait(optimizer):g} s")
    except asyncio.CancelledError:
        if not handed.cancelled():
            raise  # the caller is cancelled
        return _given_up(paths, prefixes, "was cancelled (the server is stopping)")


def invalidate(app: Any, path: Paths = None, *, prefix: Paths = None) -> bool:
    """Drop the cached responses of ``path`` and of every path under ``prefix``.

    :param app: the :class:`chassis.App`, or its Flask application (``flask.current_app``).
    :param path: a URL path relative to the app, percent-decoded, as ``flask.request.path``
        gives it (the API's base path included, a server's root path not), or several: each
        one's responses for every query string, host, scheme, credential and ``Vary`` value
        are dropped, in every worker sharing the Redis cache.
    :param prefix: a path (or several) whose whole subtree is dropped, by segments:
        ``/premises`` covers ``/premises``, ``/premises/7`` and ``/premises/7/notes``, not
        ``/premises-archive``; ``/`` covers everything.
    :return: ``True`` once done (also when the plugin or the cache is off); ``False`` when
        it failed (Redis unreachable, an unexpected error; logged): entries may then be
        served until they expire. It never raises for a failed invalidation.
    :raises RuntimeError: when called from async code (an event loop is running in this
        thread: use :func:`ainvalidate`).
    :raises TypeError, ValueError: for invalid arguments.

    Call it after the write is committed and before answering, so that the client's next
    read misses. Blocks for one Redis round trip (or a few microseconds in memory).
    """
    paths, prefixes = _targets(path, prefix)
    optimizer = find_optimizer(app)
    if optimizer is None:
        return True
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "chassis_optimizer.invalidate() blocks; in async code use "
            "`await chassis_optimizer.ainvalidate(...)`"
        )
    loop = _owner(optimizer)
    handed = None if loop is None else _hand_over(optimizer, paths, prefixes, loop)
    if handed is None:  # no running server: the work is done here
        return asyncio.run(optimizer.invalidate(paths, prefixes))
    try:
        return handed.result(_wait(optimizer))
    except concurrent.futures.TimeoutError:
        handed.cancel()
        return _given_up(paths, prefixes, f"took more than {_wait(optimizer):g} s")
    except concurrent.futures.CancelledError:
        return _given_up(paths, prefixes, "was cancelled (the server is stopping)")
