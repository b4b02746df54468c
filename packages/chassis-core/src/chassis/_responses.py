"""Runs the ``wrap_response`` hook around operation handlers, only when a plugin implements it."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from connexion import context as connexion_context
from connexion.datastructures import NoContent
from connexion.lifecycle import ConnexionResponse
from connexion.resolver import Resolution, Resolver
from connexion.utils import is_json_mimetype
from starlette.responses import Response as StarletteResponse
from werkzeug.wrappers import Response as WerkzeugResponse

_FRAMEWORK_RESPONSES = (WerkzeugResponse, StarletteResponse, ConnexionResponse)


@dataclass
class OperationResult:
    """The result of one operation call, before serialization (see ``wrap_response``)."""

    body: Any
    status: int
    headers: MutableMapping[str, str]
    operation_id: str
    is_json: bool
    meta: dict[str, Any] = field(default_factory=dict)


def _unpack(returned: Any) -> tuple[Any, int | None, dict[str, str]]:
    """Connexion's rules for a handler's return value: body, (body, status[, headers])."""
    if not isinstance(returned, tuple):
        return returned, None, {}
    if len(returned) == 1:
        return returned[0], None, {}
    if len(returned) == 2:
        body, second = returned
        if isinstance(second, int):
            return body, second, {}
        return body, None, dict(second)
    body, status, headers = returned[:3]
    return body, status, dict(headers)


def _is_json(body: Any, headers: MutableMapping[str, str]) -> bool:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return bool(is_json_mimetype(value.split(";")[0].strip()))
    try:
        produces = list(connexion_context.operation.produces)
    except (LookupError, RuntimeError, AttributeError):
        produces = []
    if not produces:
        return body is not None
    return len(set(produces)) == 1 and bool(is_json_mimetype(produces[0]))


class ResponseHook:
    """Calls ``wrap_response`` on what a handler returned and gives back Connexion's shape."""

    def __init__(self, hook: Callable[..., Any]) -> None:
        self.hook = hook

    def apply(self, returned: Any, operation_id: str) -> Any:
        if isinstance(returned, _FRAMEWORK_RESPONSES):
            return returned
        body, status, headers = _unpack(returned)
        if body is NoContent or isinstance(body, _FRAMEWORK_RESPONSES):
            return returned
        status = status or (200 if body is not None else 204)
        if status >= 400:
            return returned
        result = OperationResult(body, status, headers, operation_id, _is_json(body, headers))
        self.hook(result=result)
        return result.body, result.status, dict(result.headers)

    def wrap(self, function: Callable[..., Any], operation_id: str) -> Callable[..., Any]:
        apply = self.apply
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return apply(await function(*args, **kwargs), operation_id)

            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return apply(function(*args, **kwargs), operation_id)

        return wrapper


class WrappingResolver(Resolver):
    """Delegates to the API's resolver and wraps each resolved handler."""

    def __init__(self, inner: Resolver, response_hook: ResponseHook) -> None:
        self.inner = inner
        self.response_hook = response_hook

    def resolve(self, operation: Any) -> Resolution:
        resolution = self.inner.resolve(operation)
        function = self.response_hook.wrap(resolution.function, resolution.operation_id)
        return Resolution(function, resolution.operation_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
