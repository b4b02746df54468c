"""Each configured database: its URL checked against the app class, its engines created at
start-up (the async one on the server's event loop) and disposed at shutdown."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import chassis

from ._errors import DatabaseBusy, DatabaseUnavailable, named
from ._settings import DEFAULT, DatabaseSettings
from ._urls import async_variant, check_url, shown

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger("chassis.sqlalchemy")


def variable(database: str, field: str) -> str:
    """The environment variable of one database's setting."""
    if database == DEFAULT:
        return f"CHASSIS_SQLALCHEMY__{field.upper()} (sqlalchemy.{field})"
    return (
        f"CHASSIS_SQLALCHEMY__DATABASES__{database.upper()}__{field.upper()} "
        f"(sqlalchemy.databases.{database}.{field})"
    )


def _settings_error(setting: str, message: str) -> chassis.SettingsError:
    return chassis.SettingsError(f"Invalid settings:\n  {setting}: {message}")


class Database:
    """One database of one app: settings, engines, session factories.

    :ivar name: ``"default"`` or its name under ``databases``.
    :ivar settings: its :class:`DatabaseSettings`.
    :ivar url: the URL without credentials (for logs and health details).
    """

    def __init__(
        self,
        name: str,
        settings: DatabaseSettings,
        *,
        async_app: bool,
        url_setting: str | None = None,
    ) -> None:
        assert settings.url is not None
        self.name = name
        self.settings = settings
        self._sync_url = settings.url.get_secret_value()
        self._url_setting = url_setting or variable(name, "url")
        self.url = shown(self._sync_url)
        self.wants_sync, self.wants_async, self._async_url = self._engines(async_app)
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._sessionmaker: sessionmaker[Session] | None = None
        self._async_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._lock = threading.Lock()

    def _engines(self, async_app: bool) -> tuple[bool, bool, str | None]:
        """Which engines this database gets, and the async engine's URL; a
        :class:`chassis.SettingsError` naming the setting when the drivers cannot serve."""
        settings = self.settings
        sync_dialect = check_url(self._sync_url)
        async_url = settings.async_url.get_secret_value() if settings.async_url else None
        async_setting = variable(self.name, "async_url") if async_url else self._url_setting
        candidate = async_url or async_variant(self._sync_url)
        try:
            check_url(candidate, asynchronous=True)
            async_possible, async_problem = True, ""
        except ValueError as error:
            async_possible, async_problem = False, str(error)
        sync_possible = not sync_dialect.is_async
        mode = settings.engines
        if mode == "auto":
            # A sync engine opens nothing until used: sync handlers (threads) always get one
            # when the driver allows; the async one starts for AsyncApp when it can.
            wants_async = (async_app and async_possible) or sync_dialect.is_async
            wants_sync = sync_possible
        else:
            wants_sync = mode in ("sync", "both")
            wants_async = mode in ("async", "both")
        if wants_sync and not sync_possible:
            raise _settings_error(
                self._url_setting,
                f"the driver {sync_dialect.driver!r} is an asyncio driver, but "
                f"{variable(self.name, 'engines')}={mode!r} needs a sync engine",
            )
        if wants_async and not async_possible:
            raise _settings_error(async_setting, async_problem)
        return wants_sync, wants_async, candidate if wants_async else None

    # -- engines ----------------------------------------------------------------------

    def _options(self, url: str, asynchronous: bool) -> dict[str, Any]:
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import QueuePool

        settings = self.settings
        parsed = make_url(url)
        dialect: Any = parsed.get_dialect(_is_async=asynchronous)
        options: dict[str, Any] = {
            "echo": settings.echo,
            "pool_pre_ping": settings.pool_pre_ping,
            "connect_args": _connect_args(dialect.driver, settings.connect_timeout),
        }
        pool: type[Any] = dialect.get_pool_class(parsed)
        if issubclass(pool, QueuePool):
            options.update(
                poolclass=_named_pool(pool, self.name),
                pool_size=settings.pool_size,
                max_overflow=settings.max_overflow,
                pool_timeout=settings.pool_timeout,
                pool_recycle=settings.pool_recycle,
            )
        return options

    @property
    def engine(self) -> Engine:
        """The sync engine (created at start-up; at first use when no server started the app,
        as with a test client used without ``with`` or a script)."""
        if self._engine is None:
            if not self.wants_sync:
                raise RuntimeError(
                    f"database {self.name!r} has no sync engine ({self._why_not('sync')})"
                )
            with self._lock:
                if self._engine is None:
                    from sqlalchemy import create_engine

                    engine = create_engine(self._sync_url, **self._options(self._sync_url, False))
                    _name_errors(engine, self.name)
                    self._engine = engine
        return self._engine

    @property
    def async_engine(self) -> AsyncEngine:
        """The async engine, created at start-up on the server's event loop."""
        if self._async_engine is None:
            if not self.wants_async:
                raise RuntimeError(
                    f"database {self.name!r} has no async engine ({self._why_not('async')})"
                )
            raise RuntimeError(
                f"database {self.name!r}: the async engine is created at start-up, on the "
                "server's event loop: serve the app (or use its test client with `with`)"
            )
        return self._async_engine

    def _why_not(self, kind: str) -> str:
        return (
            f"{variable(self.name, 'engines')}={self.settings.engines!r} for this app class; "
            f"set it to {kind!r} or 'both'"
        )

    @property
    def sessionmaker(self) -> sessionmaker[Session]:
        if self._sessionmaker is None:
            from sqlalchemy.orm import sessionmaker

            self._sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessionmaker

    @property
    def async_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        if self._async_sessionmaker is None:
            from sqlalchemy.ext.asyncio import async_sessionmaker

            self._async_sessionmaker = async_sessionmaker(self.async_engine, expire_on_commit=False)
        return self._async_sessionmaker

    @property
    def migration_url(self) -> str:
        """The URL alembic runs with (with credentials): the database's URL, whatever its
        driver (an asyncio one runs through ``run_sync``)."""
        return self._sync_url

    def start_sync(self) -> None:
        if self.wants_sync:
            _ = self.engine

    def start_async(self) -> None:
        """Create the async engine: call on the event loop that will use it."""
        if self.wants_async and self._async_engine is None:
            from sqlalchemy.ext.asyncio import create_async_engine

            assert self._async_url is not None
            engine = create_async_engine(self._async_url, **self._options(self._async_url, True))
            _name_errors(engine.sync_engine, self.name)
            self._async_engine = engine

    async def stop(self) -> None:
        engine, self._engine, self._sessionmaker = self._engine, None, None
        async_engine, self._async_engine, self._async_sessionmaker = self._async_engine, None, None
        if async_engine is not None:
            await async_engine.dispose()
        if engine is not None:
            await asyncio.to_thread(engine.dispose)


class Databases:
    """Every database of one app, by name (the plugin's ``plugin.state``)."""

    def __init__(self, databases: Mapping[str, Database]) -> None:
        self.by_name = dict(databases)

    def get(self, name: str = DEFAULT) -> Database:
        found = self.by_name.get(name)
        if found is None:
            known = ", ".join(self.by_name) or "none: set CHASSIS_SQLALCHEMY__URL"
            raise LookupError(f"no database named {name!r} (configured: {known})")
        return found

    async def start(self) -> None:
        for database in self.by_name.values():
            await asyncio.to_thread(database.start_sync)
            database.start_async()
            if database.settings.migrations:
                from ._migrations import scripts

                # Read once now, not on the first readiness probe.
                await asyncio.to_thread(scripts, database)

    async def stop(self) -> None:
        for database in reversed(list(self.by_name.values())):
            try:
                await database.stop()
            except Exception as error:
                logger.warning("disposing of database %r failed: %r", database.name, error)


def _connect_args(driver: str, timeout: float) -> dict[str, Any]:
    """A connection that cannot be opened must not hold a request for ever."""
    if driver in ("psycopg", "psycopg2", "pg8000", "pymysql", "mysqldb", "asyncmy", "aiomysql"):
        return {"connect_timeout": max(1, math.ceil(timeout))}
    if driver in ("pysqlite", "aiosqlite", "asyncpg"):
        return {"timeout": timeout}
    return {}


_pools: dict[tuple[type[Any], str], type[Any]] = {}


def _named_pool(base: type[Any], database: str) -> type[Any]:
    """``base`` whose checkout time-out names the database (a pool recreates itself from its
    class, so the name lives on the class)."""
    key = (base, database)
    found = _pools.get(key)
    if found is None:
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        def _do_get(self: Any) -> Any:
            try:
                return base._do_get(self)
            except PoolTimeout as error:
                raise named(DatabaseBusy, error, database) from None

        # The module of the base: SQLAlchemy's pool logger stays under "sqlalchemy" (quiet).
        found = type(base.__name__, (base,), {"_do_get": _do_get, "__module__": base.__module__})
        _pools[key] = found
    return found


def _name_errors(engine: Engine, database: str) -> None:
    """Connection failures of ``engine`` become :class:`DatabaseUnavailable` errors."""
    from sqlalchemy import event

    def on_error(context: Any) -> BaseException | None:
        error = context.sqlalchemy_exception
        if error is None or context.is_pre_ping:
            return None
        if context.is_disconnect or context.connection is None:
            return named(DatabaseUnavailable, error, database)
        return None

    event.listen(engine, "handle_error", on_error)
