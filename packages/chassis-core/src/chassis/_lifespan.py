"""The server's lifespan: plugins' ``startup``/``shutdown`` hooks, and graceful shutdown.

On SIGTERM, readiness answers 503 first, then the server stops.

Kubernetes sends SIGTERM and removes the pod from its Service only once readiness fails, so
a server that stops at once drops the requests still routed to it. On SIGTERM this
middleware marks the app draining (``/readyz`` answers 503, responses ask clients to close
their keep-alive connections), keeps serving for ``CHASSIS_SHUTDOWN__DRAIN_SECONDS``, then
hands the signal to the server (uvicorn, or gunicorn's uvicorn worker), whose own graceful
shutdown lets in-flight requests finish within its time-out
(``CHASSIS_SHUTDOWN__GRACE_SECONDS`` under ``chassis run``). A second SIGTERM stops at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import threading
from collections.abc import Collection
from types import FrameType
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._health import HealthChecks
from ._plugins import in_registration_order
from ._redact import redact_credentials

if TYPE_CHECKING:
    from ._app import App

logger = logging.getLogger("chassis.lifespan")

_CLOSE = (b"connection", b"close")


class LifespanMiddleware:
    def __init__(
        self, app: ASGIApp, *, chassis_app: App, checks: HealthChecks, drain_seconds: float
    ) -> None:
        self.app = app
        self.chassis_app = chassis_app
        self.checks = checks
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._watch_startup(receive), self._run_hooks(send))
        elif scope["type"] == "http" and self.checks.draining:
            await self.app(scope, receive, self._closing(send))
        else:
            await self.app(scope, receive, send)

    def _watch_startup(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.install(asyncio.get_running_loop())
            return message

        return watched

    def _run_hooks(self, send: Send) -> Send:
        """Plugins start once the application has, and stop before it reports it stopped."""

        async def with_hooks(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                failure = await self._start_plugins()
                if failure:
                    # Raised into Connexion's (Starlette's) lifespan handler, which reports
                    # "lifespan.startup.failed" and ends, as servers and test clients expect.
                    raise RuntimeError(failure)
            elif message["type"] == "lifespan.shutdown.complete":
                await self._stop_plugins()
            await send(message)

        return with_hooks

    async def _start_plugins(self) -> str | None:
        """``startup`` in registration order; on a failure, stop what started and say why."""
        impls = in_registration_order(self.chassis_app.plugin_manager, "startup")
        for index, impl in enumerate(impls):
            try:
                await self._call(impl)
            except Exception as error:
                failure = redact_credentials(
                    f"plugin {impl.plugin_name!r} failed in startup: {error!r}"
                )
                logger.exception(failure)
                # Shut down as usual, except plugins whose startup did not run or failed.
                await self._stop_plugins(skip={later.plugin_name for later in impls[index:]})
                return failure
        return None

    async def _stop_plugins(self, skip: Collection[str] = ()) -> None:
        """``shutdown`` in reverse registration order; a failure does not stop the others."""
        impls = in_registration_order(self.chassis_app.plugin_manager, "shutdown")
        for impl in reversed(impls):
            if impl.plugin_name in skip:
                continue
            try:
                await self._call(impl)
            except Exception as error:
                logger.exception(
                    redact_credentials(f"plugin {impl.plugin_name!r} failed in shutdown: {error!r}")
                )

    async def _call(self, impl: Any) -> None:
        result = impl.function(**({"app": self.chassis_app} if impl.argnames else {}))
        if inspect.isawaitable(result):
            await result

    @staticmethod
    def _closing(send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        return closing

    def install(self, loop: asyncio.AbstractEventLoop) -> bool:
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
                "SIGTERM: readiness now answers 503; serving %.1f s more, then stopping",
                self.drain_seconds,
            )
            loop.call_later(self.drain_seconds, hand_over, signum, frame)

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            # A signal handler interrupts whatever the main thread was doing, locks held
            # included (a logging handler's, a span's): it only flips a flag and hands the
            # rest to the event loop.
            if self.checks.draining:
                loop.call_soon_threadsafe(hand_over, signum, frame)
                return
            self.checks.draining = True
            loop.call_soon_threadsafe(begin_drain, signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        return True
