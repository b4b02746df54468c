"""One object per running event loop (an asyncio client and its connection pool)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """The object ``factory()`` made on the running loop, made again on another loop.

    An asyncio client belongs to the loop it was made on; a new loop (a test client without
    its lifespan, a new worker) gets its own. Only the latest is kept: closing it is the
    owner's business (:meth:`pop` at shutdown).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        # The loop and its object, swapped as one: loops in other threads read it too.
        self._bound: tuple[asyncio.AbstractEventLoop, T] | None = None

    def get(self) -> T:
        """The running loop's object, made now if it has none."""
        loop = asyncio.get_running_loop()
        bound = self._bound
        if bound is None or bound[0] is not loop:
            bound = self._bound = (loop, self.factory())
        return bound[1]

    def current(self) -> T | None:
        """The running loop's object if it has one (``None``, and nothing made, if not)."""
        bound = self._bound
        if bound is not None and bound[0] is asyncio.get_running_loop():
            return bound[1]
        return None

    @property
    def latest(self) -> T | None:
        """The latest object made, on whichever loop."""
        bound = self._bound
        return bound[1] if bound is not None else None

    def pop(self) -> T | None:
        """The latest object (of whichever loop), forgotten: the caller closes it."""
        bound, self._bound = self._bound, None
        return bound[1] if bound is not None else None
