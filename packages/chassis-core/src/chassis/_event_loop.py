"""One long-lived event loop per process for the ``async def`` handlers of a Flask app.

Connexion's FlaskApp runs an ``async def`` handler through asgiref's ``async_to_sync``, which,
called from a WSGI thread, starts a new thread and a new event loop for every call: about
0.3 ms per request, and nothing bound to a loop (pooled async database connections, HTTP
clients) can outlive the request. chassis runs them on one loop instead, in a thread of its
own, started at the first call in each process (after a fork too), so they share pools and
run concurrently with each other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Coroutine
from typing import Any

_THREAD_NAME = "chassis-async"


class EventLoopThread:
    """An event loop running forever in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child starts anew
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=_THREAD_NAME, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the loop, in a copy of the caller's context (Flask's request,
        :data:`chassis.current_context`), and return its result or raise its exception."""
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("a handler running on chassis's event loop cannot block on it")
        context = contextvars.copy_context()
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            # The task runs in (a copy of) ``context``: create_task copies the current one.
            task = context.run(loop.create_task, coroutine)
            task.add_done_callback(lambda done: _settle(done, outcome))

        loop.call_soon_threadsafe(start)
        return outcome.result()


def _settle(task: asyncio.Task[Any], outcome: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        outcome.cancel()
    elif task.exception() is not None:
        outcome.set_exception(task.exception())
    else:
        outcome.set_result(task.result())


handler_loop = EventLoopThread()
"""The process's loop for ``async def`` handlers."""
