"""Handlers for the kernel's tests (module named uniquely: tests share one sys.path)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import chassis
import connexion
import flask
import sqlalchemy
import werkzeug.exceptions

logger = logging.getLogger("core_handlers")


def get_item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "type": type(item_id).__name__}


def search(page_size: int | None = None, filter_: str | None = None) -> dict[str, Any]:
    return {"page_size": page_size, "filter": filter_}


def create_note(note: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return {"text": note["text"]}, 201


def _context() -> dict[str, Any]:
    ctx = chassis.current_context
    custom = ctx.custom
    return {
        "request_id": ctx.request_id,
        "operation_id": ctx.operation_id,
        "route": ctx.route,
        "user": ctx.user,
        "token_info": ctx.token_info,
        "custom": getattr(custom, "correlation_id", None),
        "thread": threading.current_thread().name,
        "outgoing": chassis.outgoing_headers({"Accept": "application/json"}),
    }


def show_context(context_: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**_context(), "connexion_user": (context_ or {}).get("user")}


show_private = show_context


async def show_context_async() -> dict[str, Any]:
    return _context()


def boom() -> None:
    raise RuntimeError("database password is hunter2")


def abort_teapot() -> None:
    flask.abort(418, "short and stout")


def abort_kind(kind: str) -> None:
    if kind == "method":
        flask.abort(405, valid_methods=["GET", "PUT"])
    if kind == "busy":
        raise werkzeug.exceptions.TooManyRequests(retry_after=30)
    if kind == "response":
        flask.abort(flask.Response("go away", 401, {"WWW-Authenticate": 'Basic realm="x"'}))


def outgoing_with_own_id() -> dict[str, str]:
    return chassis.outgoing_headers({"x-request-id": "caller-chose-this"})


async def async_loop() -> dict[str, Any]:
    await asyncio.sleep(0)
    return {
        "loop": id(asyncio.get_running_loop()),
        "thread": threading.current_thread().name,
        "request_id": chassis.current_context.request_id,
        "path": chassis.app_path(connexion.context.scope),
    }


ASYNC_ENGINE: Any = None
"""Set by the test: an async SQLAlchemy engine with a connection pool."""


async def async_database() -> dict[str, Any]:
    async with ASYNC_ENGINE.connect() as connection:
        value = (await connection.execute(sqlalchemy.text("SELECT 1"))).scalar()
    return {"value": value}


async def async_boom() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("async secret 42")


def csv() -> tuple[str, int, dict[str, str]]:
    return "a,b\n1,2\n", 200, {"Content-Type": "text/csv"}


def wrong_shape() -> dict[str, Any]:
    return {"id": "not-an-integer"}


def log_something(message: str = "hello") -> dict[str, Any]:
    logger.warning("user said %s", message)
    return {}


def check_token(token: str) -> dict[str, Any] | None:
    if token == "good":
        return {"sub": "alice", "scope": ["read"]}
    return None


class Ctx:
    """A user-defined per-request context (Flask-Context's pattern)."""

    def __init__(self) -> None:
        self.correlation_id = "custom-" + threading.current_thread().name[:0] + "ok"


class _BrokenMiddleware:
    """An ASGI middleware with a bug: every HTTP request raises past the error handlers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("middleware bug")
        await self.app(scope, receive, send)


class BrokenMiddlewarePlugin:
    """A plugin that adds :class:`_BrokenMiddleware` before Connexion's exception handling."""

    @chassis.hookimpl
    def configure_app(self, app: Any) -> None:
        from connexion.middleware import MiddlewarePosition

        app.add_middleware(_BrokenMiddleware, position=MiddlewarePosition.BEFORE_EXCEPTION)


def own_path(**path_parameters: Any) -> dict[str, Any]:
    """An API's own operation on a path a kernel endpoint serves too (/info, /healthz...)."""
    return {"served_by": "api", "route": chassis.current_context.route, **path_parameters}


# Flask names a view after its operation id: one name per path of a spec.
own_path_2 = own_path_3 = own_path_4 = own_path
