"""``chassis.AsyncApp``: a ``connexion.AsyncApp`` built from settings and plugins.

Everything but the handler layer is shared with :class:`chassis.App` (``_base.py``). What is
its own: operations decorated once (Connexion's ``AsyncOperation.fn`` builds a
``StarletteDecorator``, re-inspects the handler's signature and builds a URI parser on every
request), ``async def`` handlers run on the server's loop in the request's task, a handler
that ends cancelled becomes the kernel's 500, and ``CHASSIS_THREADS`` bounds the threads that
run plain ``def`` handlers.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from connexion import AsyncApp as ConnexionAsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import _receive, _scope
from connexion.decorators import StarletteDecorator
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from ._base import BaseApp
from ._event_loop import HandlerCancelled

__all__ = ["AsyncApp"]


class _OnceStarletteDecorator(StarletteDecorator):
    @property
    def _sync_async_decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            if not asyncio.iscoroutinefunction(function):

                @functools.wraps(function)
                async def in_thread(*args: Any, **kwargs: Any) -> Any:
                    return await run_in_threadpool(function, *args, **kwargs)

                return in_thread

            @functools.wraps(function)
            async def in_task(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await function(*args, **kwargs)
                except asyncio.CancelledError as cancelled:
                    # Not an Exception: left as it is, it would pass every error handler and
                    # reach the server as a plain-text 500 without the request id.
                    raise HandlerCancelled(
                        f"the async handler {function.__qualname__} ended cancelled"
                    ) from cancelled

            return in_task

        return decorator

    def __call__(self, function: Any) -> Any:
        decorated = self.decorate(function)
        framework = self.framework
        uri_parser: list[Any] = []

        @functools.wraps(function)
        async def handler(*args: Any, **kwargs: Any) -> Any:
            if not uri_parser:  # needs the operation's context: built at its first request
                uri_parser.append(self.uri_parser)
            request = framework.get_request(
                uri_parser=uri_parser[0], scope=_scope.get(), receive=_receive.get()
            )
            return await decorated(request)

        return handler


class _OnceAsyncOperation(AsyncOperation):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        decorator = _OnceStarletteDecorator(
            pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )
        self._decorated = decorator(self._fn)

    @property
    def fn(self) -> Any:
        return self._decorated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        response = await self._decorated()
        return await response(scope, receive, send)


class _OnceAsyncApi(AsyncApi):
    def make_operation(self, operation: Any) -> _OnceAsyncOperation:
        return _OnceAsyncOperation(
            operation.function,
            jsonifier=self.jsonifier,
            operation_id=operation.operation_id,
            pythonic_params=self.pythonic_params,
        )


class ChassisAsyncASGIApp(AsyncASGIApp):
    """Connexion's async ASGI app, with operations decorated once."""

    api_cls = _OnceAsyncApi


class AsyncApp(BaseApp, ConnexionAsyncApp):
    """A Connexion ``AsyncApp`` configured by settings and extended by plugins.

    It takes the same arguments as :class:`chassis.App` (``connexion_kwargs`` go to
    ``connexion.AsyncApp``). Handlers are ``async def`` and run on the server's event loop;
    plain ``def`` handlers run in a pool of ``CHASSIS_THREADS`` threads.
    """

    def _adopt_connexion(self) -> None:
        super()._adopt_connexion()
        self._middleware_app.__class__ = ChassisAsyncASGIApp

    def _attach_server_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        super()._attach_server_loop(loop)
        # anyio's default limiter belongs to the running loop: the server's, at start-up.
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.settings.threads
