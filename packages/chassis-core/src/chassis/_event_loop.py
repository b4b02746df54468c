"""Where an app's ``async def`` work runs when it is called from a thread: one event loop.

Connexion's FlaskApp runs an ``async def`` handler through asgiref's ``async_to_sync``, which,
called from a WSGI thread, starts a new thread and a new event loop for every call: about
0.3 ms per request, and nothing bound to a loop (pooled async database connections, HTTP
clients) outlives the request. chassis runs them on the server's own event loop instead, the
one that ran the app's start-up (and its plugins' ``startup``): a client or pool made at
start-up works in every handler and is closed at shutdown on the loop it belongs to.

Without a lifespan (a test client used without ``with``, a server with lifespan off), the app
runs them on a loop of its own in a daemon thread, started at the first call in each process.
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


class HandlerCancelled(RuntimeError):
    """An ``async def`` handler's task ended cancelled while its request was still served.

    asyncio's ``CancelledError`` is not an ``Exception``: left as it is, it would escape every
    error handler and reach the server as a plain-text 500. As this error, it becomes the
    kernel's problem+json 500 with the request id.
    """


class HandlerLoop:
    """The event loop of one app's ``async def`` work, reached from other threads."""

    def __init__(self) -> None:
        self._server: asyncio.AbstractEventLoop | None = None
        self._server_pid = 0
        self._own: asyncio.AbstractEventLoop | None = None
        self._own_thread: threading.Thread | None = None
        self._own_pid = 0
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Use the server's loop (called at start-up, on that loop)."""
        self._server, self._server_pid = loop, os.getpid()

    def detach(self) -> None:
        """Stop using the server's loop (called at shutdown, after the plugins stopped)."""
        self._server = None

    def loop(self) -> asyncio.AbstractEventLoop:
        server = self._server
        if server is not None and self._server_pid == os.getpid() and not server.is_closed():
            return server
        own = self._own
        if own is not None and self._own_pid == os.getpid():
            return own
        with self._lock:
            if self._own is None or self._own_pid != os.getpid():  # a forked child starts anew
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_serve, args=(loop, ready), name=_THREAD_NAME, daemon=True
                )
                thread.start()
                ready.wait()
                self._own, self._own_thread, self._own_pid = loop, thread, os.getpid()
            return self._own

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the loop from another thread, in a copy of the caller's
        context (Flask's request, :data:`chassis.current_context`); return its result or
        raise its exception (:class:`HandlerCancelled` when its task was cancelled)."""
        loop = self.loop()
        if _runs_on(loop):
            coroutine.close()
            raise RuntimeError("code running on the app's event loop cannot block on it")
        context = contextvars.copy_context()
        outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def start() -> None:
            # The task runs in (a copy of) ``context``: create_task copies the current one.
            task = context.run(loop.create_task, coroutine)
            task.add_done_callback(lambda done: _settle(done, outcome))

        loop.call_soon_threadsafe(start)
        try:
            return outcome.result()
        except concurrent.futures.CancelledError:
            raise HandlerCancelled("the handler's task was cancelled") from None


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _settle(task: asyncio.Task[Any], outcome: concurrent.futures.Future[Any]) -> None:
    if task.cancelled():
        outcome.cancel()
    elif task.exception() is not None:
        outcome.set_exception(task.exception())
    else:
        outcome.set_result(task.result())
