"""A session per request: created at the first ``session()`` of the request, committed when
the response is a success (below 400), rolled back otherwise, always closed.

The layer sits in the ``routed`` slot, inside Connexion's exception handling: security
functions, other plugins' layers after routing and the handler share the request's session.
It commits when the response starts, before anything is sent, so a failed commit becomes an
error response (a 503 when the database is down) instead of a success the client believes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import chassis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._settings import DEFAULT

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from ._engines import Databases

logger = logging.getLogger("chassis.sqlalchemy")

STATE_KEY = "chassis_sqlalchemy"
"""``chassis.current_context.state[STATE_KEY]``: the request's :class:`RequestSessions`."""


class RequestSessions:
    """The sessions one request opened, by database name."""

    __slots__ = ("async_sessions", "databases", "sessions")

    def __init__(self, databases: Databases) -> None:
        self.databases = databases
        self.sessions: dict[str, Session] = {}
        self.async_sessions: dict[str, AsyncSession] = {}

    def session(self, name: str) -> Session:
        found = self.sessions.get(name)
        if found is None:
            found = self.sessions[name] = self.databases.get(name).sessionmaker()
        return found

    def async_session(self, name: str) -> AsyncSession:
        found = self.async_sessions.get(name)
        if found is None:
            found = self.async_sessions[name] = self.databases.get(name).async_sessionmaker()
        return found

    @property
    def used(self) -> bool:
        return bool(self.sessions or self.async_sessions)

    async def finish(self, commit: bool) -> None:
        """Commit (or roll back) every session, then close them all; the first failure of a
        commit is raised once every session is closed."""
        sessions, self.sessions = self.sessions, {}
        async_sessions, self.async_sessions = self.async_sessions, {}
        failure: BaseException | None = None
        for session in async_sessions.values():
            try:
                if commit and failure is None:
                    await session.commit()
                else:
                    await session.rollback()
            except Exception as error:
                failure = failure or error
            finally:
                await _quietly(session.close())
        if sessions:
            # Sync sessions do blocking I/O: off the event loop.
            failed = await asyncio.to_thread(_finish_sync, list(sessions.values()), commit)
            failure = failure or failed
        if failure is not None:
            raise failure


def _finish_sync(sessions: list[Session], commit: bool) -> BaseException | None:
    failure: BaseException | None = None
    for session in sessions:
        try:
            if commit and failure is None:
                session.commit()
            else:
                session.rollback()
        except Exception as error:
            failure = failure or error
        finally:
            try:
                session.close()
            except Exception as error:
                logger.warning("closing a session failed: %r", error)
    return failure


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except Exception as error:
        logger.warning("closing a session failed: %r", error)


class SessionMiddleware:
    """Gives each request its :class:`RequestSessions` and settles them before the response
    starts (commit below 400, rollback otherwise) or when the request fails."""

    def __init__(self, app: ASGIApp, *, databases: Databases) -> None:
        self.app = app
        self.databases = databases

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = chassis.get_context()
        if scope["type"] != "http" or context is None:
            await self.app(scope, receive, send)
            return
        sessions = RequestSessions(self.databases)
        context.state[STATE_KEY] = sessions
        failure: BaseException | None = None

        async def settle_then_send(message: Message) -> None:
            nonlocal failure
            if failure is not None:
                return  # the response is replaced by the commit's error
            if message["type"] == "http.response.start" and sessions.used:
                try:
                    await sessions.finish(commit=message["status"] < 400)
                except Exception as error:
                    failure = error
                    return
            await send(message)

        try:
            await self.app(scope, receive, settle_then_send)
        except BaseException:
            if sessions.used:
                await _quietly(sessions.finish(commit=False))
            raise
        finally:
            context.state.pop(STATE_KEY, None)
        if sessions.used:  # streamed, or nothing was sent: never left open
            await sessions.finish(commit=False)
        if failure is not None:
            raise failure


def _request_sessions(function: str) -> RequestSessions:
    context = chassis.get_context()
    found = context.state.get(STATE_KEY) if context is not None else None
    if found is None:
        raise RuntimeError(
            f"chassis_sqlalchemy.{function}() is bound to a request: call it in a handler "
            "(or a layer after routing) of an app with the sqlalchemy plugin; elsewhere use "
            "chassis_sqlalchemy.database(app).sessionmaker()"
        )
    sessions: RequestSessions = found
    return sessions


def session(name: str = DEFAULT) -> Session:
    """The current request's :class:`sqlalchemy.orm.Session` of database ``name``.

    The same object for every call in one request; committed when the response is a success
    (status below 400), rolled back on an error, closed at the end of the request. Call
    ``session.commit()`` yourself to commit earlier (a later write starts a new transaction).
    """
    return _request_sessions("session").session(name)


def async_session(name: str = DEFAULT) -> AsyncSession:
    """The current request's :class:`sqlalchemy.ext.asyncio.AsyncSession` of database
    ``name``, for ``async def`` handlers; settled like :func:`session`."""
    return _request_sessions("async_session").async_session(name)
