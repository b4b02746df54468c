"""Start-up checks of a database URL: it parses, its dialect loads, its driver imports.

SQLAlchemy itself connects lazily, so a typo in a URL (or a driver missing from the image)
would otherwise surface at the first request or readiness probe; here it stops start-up with
the setting's name.
"""

from __future__ import annotations

from typing import Any

import chassis


def check_url(url: str, *, asynchronous: bool | None = None) -> Any:
    """The dialect class of ``url``; ``ValueError`` saying what is wrong (never the password).

    :param asynchronous: ``True``: the driver must support asyncio; ``False``: it must be a
        plain (synchronous) driver; ``None``: either.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "not a SQLAlchemy URL (dialect+driver://user:password@host:port/database)"
        ) from None
    try:
        dialect: Any = parsed.get_dialect(_is_async=bool(asynchronous))
    except NoSuchModuleError:
        raise ValueError(
            f"unknown database dialect or driver {parsed.drivername!r} "
            "(postgresql+psycopg, sqlite, sqlite+aiosqlite, mysql+pymysql...)"
        ) from None
    if asynchronous and not dialect.is_async:
        raise ValueError(
            f"the driver {parsed.drivername!r} is not an asyncio driver: an async engine needs "
            "one (postgresql+psycopg, postgresql+asyncpg, sqlite+aiosqlite); set async_url"
        )
    if asynchronous is False and dialect.is_async:
        raise ValueError(
            f"the driver {parsed.drivername!r} is an asyncio driver: a sync engine needs a plain "
            "one (postgresql+psycopg, sqlite)"
        )
    try:
        dialect.import_dbapi()
    except ImportError as error:
        raise ValueError(
            f"the driver of {parsed.drivername!r} is not installed ({error.name or error}): "
            "pip install it (psycopg[binary], aiosqlite, asyncpg...)"
        ) from None
    return dialect


def async_variant(url: str) -> str:
    """The URL an async engine uses when no ``async_url`` is set: the same database through
    the asyncio driver of its dialect (``sqlite`` -> ``sqlite+aiosqlite``; psycopg serves both
    modes under one name)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername == "sqlite":  # no driver named: an explicit +pysqlite is kept
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    return url


def shown(url: str) -> str:
    """``url`` without its credentials, for logs and health details."""
    return chassis.redact_credentials(url)
