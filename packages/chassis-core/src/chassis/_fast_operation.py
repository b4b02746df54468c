"""Builds Connexion's per-operation decorators once instead of on every request.

Connexion 3's ``FlaskOperation.fn`` creates a ``FlaskDecorator`` on every call, and its
wrapper re-runs ``decorate()`` (``inspect.signature`` included) and rebuilds the URI parser
per request. None of that depends on the request: here it is done once per operation, the
first time the operation is served. Behaviour is unchanged; the request path is shorter.
``async def`` handlers run on the app's event loop (see ``chassis._event_loop``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from connexion.apps.flask import FlaskApi, FlaskASGIApp, FlaskOperation
from connexion.decorators import FlaskDecorator

from ._event_loop import HandlerLoop


class _OnceFlaskDecorator(FlaskDecorator):
    def __init__(self, *args: Any, handler_loop: HandlerLoop, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler_loop = handler_loop

    @property
    def _sync_async_decorator(self) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        handler_loop = self.handler_loop

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            if not asyncio.iscoroutinefunction(function):
                return function

            @functools.wraps(function)
            def on_handler_loop(*args: Any, **kwargs: Any) -> Any:
                return handler_loop.run(function(*args, **kwargs))

            return on_handler_loop

        return decorator

    def __call__(self, function: Any) -> Any:
        decorated = self.decorate(function)
        uri_parser: list[Any] = []

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not uri_parser:
                uri_parser.append(self.uri_parser)
            request = self.framework.get_request(uri_parser=uri_parser[0])
            return decorated(request)

        return wrapper


class _OnceFlaskOperation(FlaskOperation):
    def __init__(self, *args: Any, handler_loop: HandlerLoop, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        decorator = _OnceFlaskDecorator(
            pythonic_params=self.pythonic_params,
            jsonifier=self.jsonifier,
            handler_loop=handler_loop,
        )
        self._decorated = decorator(self._fn)

    @property
    def fn(self) -> Any:
        return self._decorated

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._decorated(*args, **kwargs)


class _OnceFlaskApi(FlaskApi):
    def __init__(self, *args: Any, handler_loop: HandlerLoop, **kwargs: Any) -> None:
        self.handler_loop = handler_loop
        super().__init__(*args, **kwargs)

    def make_operation(self, operation: Any) -> _OnceFlaskOperation:
        return _OnceFlaskOperation(
            fn=operation.function,
            jsonifier=self.jsonifier,
            operation_id=operation.operation_id,
            pythonic_params=self.pythonic_params,
            handler_loop=self.handler_loop,
        )


class ChassisFlaskASGIApp(FlaskASGIApp):
    """Connexion's Flask ASGI app, with operations decorated once."""

    handler_loop: HandlerLoop

    def add_api(self, specification: Any, *, name: str | None = None, **kwargs: Any) -> Any:
        api = _OnceFlaskApi(specification, handler_loop=self.handler_loop, **kwargs)
        if name is not None:
            self.app.register_blueprint(api.blueprint, name=name)
        else:
            self.app.register_blueprint(api.blueprint)
        return api
