"""A database that cannot be reached, or whose pool has no free connection, is a 503
problem+json naming the database, not a 500.

SQLAlchemy's exceptions do not say which engine raised them: each engine's ``handle_error``
event (and each pool's checkout) re-raises its connection failures as a subclass of the
original exception class mixed with :class:`DatabaseUnavailable` (or :class:`DatabaseBusy`),
carrying the database's name. Code that catches ``OperationalError`` still catches them.
"""

from __future__ import annotations

import logging
from typing import Any

import chassis

logger = logging.getLogger("chassis.sqlalchemy")

_UNAVAILABLE_RETRY_AFTER = "5"
_BUSY_RETRY_AFTER = "1"


class DatabaseError(Exception):
    """Base of the errors that name the database (``database``) they come from."""

    database: str = "default"


class DatabaseUnavailable(DatabaseError):
    """The database could not be connected to, or the connection broke (a 503)."""


class DatabaseBusy(DatabaseError):
    """No pooled connection became free within ``pool_timeout`` (a 503)."""


_classes: dict[tuple[type[DatabaseError], type[BaseException]], type[Any]] = {}


def named(kind: type[DatabaseError], error: BaseException, database: str) -> BaseException:
    """A copy of ``error`` whose class is also ``kind``, naming ``database``."""
    base = type(error)
    if isinstance(error, kind):
        return error
    key = (kind, base)
    cls = _classes.get(key)
    if cls is None:
        cls = type(base.__name__, (kind, base), {"__module__": base.__module__})
        _classes[key] = cls
    copy: Any = BaseException.__new__(cls)
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    copy.database = database
    copy.__traceback__ = error.__traceback__
    copy.__cause__ = error.__cause__
    return copy  # type: ignore[no-any-return]


def _reason(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return chassis.redact_credentials(f"{type(error).__name__}: {text[0] if text else ''}")[:300]


def _handler(logged: str, problem: str, retry_after: str) -> Any:
    """A 503 problem+json naming the database, the cause logged (no credentials)."""

    def handle(request: Any, exc: DatabaseUnavailable | DatabaseBusy) -> Any:
        logger.error(
            "database %r" + logged + " in %s %s: %s",
            exc.database,
            request.scope.get("method"),
            request.scope.get("path"),
            _reason(exc),
        )
        return chassis.problem_response(
            503,
            "Service Unavailable",
            f"The database {exc.database!r} {problem}; try again later.",
            headers={"Retry-After": retry_after},
            database=exc.database,
        )

    return handle


handle_unavailable = _handler(" unavailable", "is not available", _UNAVAILABLE_RETRY_AFTER)
handle_busy = _handler(": no free connection", "has no free connection", _BUSY_RETRY_AFTER)
