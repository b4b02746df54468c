"""The server's lifespan: the app's own ``lifespan=``, its plugins, and graceful shutdown.

The kernel answers the ASGI lifespan protocol itself (slot ``lifespan``). At start-up it enters
the application's ``lifespan=`` context, then starts the plugins (``startup``, in registration
order) on the server's event loop, which becomes the loop of the app's ``async def`` work; at
shutdown it stops the plugins (``shutdown``, in reverse), then leaves the application's
context: last in, first out, so a plugin that flushes through the application's pool at
shutdown still has it.

On SIGTERM, readiness answers 503 first, then the server stops. Kubernetes sends SIGTERM and
removes the pod from its Service only once readiness fails, so a server that stops at once
drops the requests still routed to it. On SIGTERM the app is marked draining (``/readyz``
answers 503, responses ask clients to close their keep-alive connections), keeps serving for
``CHASSIS_SHUTDOWN__DRAIN_SECONDS``, then hands the signal to the server (uvicorn, or
gunicorn's uvicorn worker), whose own graceful shutdown lets in-flight requests finish within
its time-out (``CHASSIS_SHUTDOWN__GRACE_SECONDS`` under ``chassis run``). A second SIGTERM
stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from ._plugins import PluginError
from ._redact import redact_credentials

if TYPE_CHECKING:
    from ._base import BaseApp

logger = logging.getLogger("chassis.lifespan")


class LifespanMiddleware:
    """Answers the ``lifespan`` scope; other scopes pass through untouched."""

    def __init__(self, app: ASGIApp, *, chassis_app: BaseApp) -> None:
        self.app = app
        self.chassis_app = chassis_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.chassis_app
        await receive()  # lifespan.startup
        started = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                own = app._app_lifespan
                if own is not None:
                    state = await stack.enter_async_context(own(scope.get("app", app)))
                    if state is not None:
                        scope.setdefault("state", {}).update(state)
                loop = asyncio.get_running_loop()
                app._attach_server_loop(loop)
                stack.callback(app.handler_loop.detach)
                await app.hooks.start(app)
                stack.push_async_callback(app.hooks.stop, app)
                install_sigterm(app, loop, app.settings.shutdown.drain_seconds)
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException as error:
            message = _describe(error)
            if not isinstance(error, PluginError):
                logger.error("lifespan failed: %s", message, exc_info=error)
            kind = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{kind}.failed", "message": message})
            # Raised after the failure was reported: servers then stop without calling the
            # protocol unsupported, and test clients raise it.
            raise
        finally:
            app.hooks.close()
        await send({"type": "lifespan.shutdown.complete"})


def _describe(error: BaseException) -> str:
    return redact_credentials(str(error) if isinstance(error, PluginError) else repr(error))


def install_sigterm(app: BaseApp, loop: asyncio.AbstractEventLoop, drain: float) -> bool:
    """Take over SIGTERM (main thread only: servers run the app there)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def hand_over(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    def begin_drain(signum: int, frame: FrameType | None) -> None:
        logger.warning(
            "SIGTERM: readiness now answers 503; serving %.1f s more, then stopping", drain
        )
        loop.call_later(drain, hand_over, signum, frame)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        # A signal handler interrupts whatever the main thread was doing, locks held
        # included (a logging handler's, a span's): it only flips a flag and hands the
        # rest to the event loop.
        if app.draining:
            loop.call_soon_threadsafe(hand_over, signum, frame)
            return
        app.draining = True
        loop.call_soon_threadsafe(begin_drain, signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
