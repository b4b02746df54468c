"""``invalidate`` / ``ainvalidate``: application code drops cached responses after a write.

The backend belongs to the server's event loop (the Redis client's connections, the memory
LRU that only the loop touches), so the work always runs there: awaited directly from a
coroutine on that loop, handed to it from a Flask view's thread (or another loop). Without
a running server (a script, a test client used without ``with``), it runs in the caller.
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
    """The optimizer of a :class:`chassis.App`, or of its Flask application
    (``flask.current_app`` in a view)."""
    from ._state import STATE_KEY

    for registry in (getattr(app, "extras", None), getattr(app, "extensions", None)):
        if isinstance(registry, dict) and STATE_KEY in registry:
            found: Optimizer = registry[STATE_KEY]
            return found
    return None


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


async def ainvalidate(app: Any, path: Paths = None, *, prefix: Paths = None) -> bool:
    """Drop cached responses, from async code. See :func:`invalidate`."""
    paths, prefixes = _targets(path, prefix)
    optimizer = find_optimizer(app)
    if optimizer is None:
        return True
    loop = _owner(optimizer)
    if loop is None or loop is asyncio.get_running_loop():
        return await optimizer.invalidate(paths, prefixes)
    handed = asyncio.run_coroutine_threadsafe(optimizer.invalidate(paths, prefixes), loop)
    return await asyncio.wrap_future(handed)


def invalidate(app: Any, path: Paths = None, *, prefix: Paths = None) -> bool:
    """Drop the cached responses of ``path`` and of every path under ``prefix``.

    :param app: the :class:`chassis.App`, or its Flask application (``flask.current_app``).
    :param path: a URL path as the client sends it, percent-decoded (``flask.request.path``),
        or several: each one's responses for every query string, host, scheme, credential
        and ``Vary`` value are dropped, in every worker sharing the Redis cache.
    :param prefix: a path (or several) whose whole subtree is dropped, by segments:
        ``/premises`` covers ``/premises``, ``/premises/7`` and ``/premises/7/notes``, not
        ``/premises-archive``; ``/`` covers everything.
    :return: ``True`` once done (also when the plugin or the cache is off); ``False`` when
        Redis failed (logged): entries may then be served until they expire.
    :raises RuntimeError: when called on the server's event loop (use :func:`ainvalidate`).

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
    if loop is None:
        return asyncio.run(optimizer.invalidate(paths, prefixes))
    handed = asyncio.run_coroutine_threadsafe(optimizer.invalidate(paths, prefixes), loop)
    timeout = optimizer.settings.cache_timeout * 2 + 5
    try:
        return handed.result(timeout)
    except concurrent.futures.TimeoutError:
        handed.cancel()
        logger.warning(
            "response cache: invalidation of %s took more than %g s; their entries may be "
            "served until they expire",
            ", ".join([*paths, *(f"{prefix}*" for prefix in prefixes)]),
            timeout,
        )
        return False
