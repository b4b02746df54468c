"""A readiness check for a SQL database: connectivity and the current alembic revision."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from ._markers import hookimpl
from ._settings import SettingsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


_SETTING = "CHASSIS_HEALTH__DATABASE_URL (health.database_url)"


def check_database_url(url: str) -> None:
    """Stop start-up when the URL cannot work: SQLAlchemy missing, a URL it cannot parse, an
    unknown dialect or driver, or a driver that is not installed (SQLAlchemy connects lazily:
    otherwise only the readiness probe would tell)."""
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError:
        raise SettingsError(
            f"Invalid settings:\n  {_SETTING}: needs SQLAlchemy, which is not installed "
            "(pip install chassis-sqlalchemy, and set CHASSIS_SQLALCHEMY__URL instead)"
        ) from None
    try:
        dialect: Any = make_url(url).get_dialect()
    except NoSuchModuleError:  # an ArgumentError too: first
        problem = f"unknown database dialect or driver {url.partition(':')[0]!r}"
    except ArgumentError:
        problem = "not a SQLAlchemy URL (dialect+driver://user:password@host:port/database)"
    else:
        try:
            dialect.import_dbapi()
        except ImportError as error:
            problem = f"the driver {dialect.driver!r} is not installed ({error.name or error})"
        else:
            return
    raise SettingsError(f"Invalid settings:\n  {_SETTING}: {problem}")


class DatabaseCheck:
    """A plugin object whose ``health_info`` reports a database (cst-micro-chassis's
    ``last_migration`` included). SQLAlchemy is imported only when the check first runs.

    Pass an ``Engine`` or a URL: ``App(plugins=[DatabaseCheck(engine)])``, or set
    ``CHASSIS_HEALTH__DATABASE_URL`` and the kernel adds it.
    """

    def __init__(
        self, engine_or_url: Engine | str, *, name: str = "database", timeout: float = 2.0
    ):
        self.name = name
        self.chassis_plugin_name = name
        self._timeout = timeout
        self._url = engine_or_url if isinstance(engine_or_url, str) else None
        self._engine: Engine | None = None if isinstance(engine_or_url, str) else engine_or_url

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from sqlalchemy import create_engine

            assert self._url is not None
            connect_args: dict[str, Any] = {}
            if self._url.startswith("postgresql"):
                connect_args["connect_timeout"] = max(1, math.ceil(self._timeout))
            self._engine = create_engine(self._url, pool_pre_ping=True, connect_args=connect_args)
        return self._engine

    @hookimpl
    def health_info(self) -> dict[str, dict[str, Any]]:
        from sqlalchemy import inspect, text

        started = time.perf_counter()
        engine = self.engine
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
                last_migration = None
                if inspect(connection).has_table("alembic_version"):
                    last_migration = connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).scalar()
        except Exception as error:
            return {
                self.name: {
                    "status": "down",
                    "dialect": engine.dialect.name,
                    "error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}",
                }
            }
        return {
            self.name: {
                "status": "up",
                "dialect": engine.dialect.name,
                "last_migration": last_migration,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        }
