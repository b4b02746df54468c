"""Settings of the ``sqlalchemy`` plugin: the default database at the top of the section
(``CHASSIS_SQLALCHEMY__URL``), named ones under ``databases``
(``CHASSIS_SQLALCHEMY__DATABASES__REPORTING__URL``)."""

from __future__ import annotations

from typing import Literal

import chassis
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ._urls import check_url

DEFAULT = "default"
"""The name of the database configured at the top of the section."""


class DatabaseSettings(BaseModel):
    """One database: its URL, its engines' pools, its migrations."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL (postgresql+psycopg://user:password@host/db, "
        "sqlite:///file.db); checked at start-up: a typo or a missing driver stops it.",
    )
    async_url: SecretStr | None = Field(
        None,
        description="URL of the async engine when the URL's driver has no asyncio variant "
        "(sqlite+aiosqlite:///file.db); default: the URL (psycopg serves both).",
    )
    engines: Literal["auto", "sync", "async", "both"] = Field(
        "auto",
        description="Which engines start: auto = a sync one when the driver is a plain one, "
        "and an async one for chassis.AsyncApp (or an asyncio driver) when it can.",
    )
    pool_size: int = Field(5, ge=1, description="Connections kept open per process.")
    max_overflow: int = Field(10, ge=0, description="Connections opened beyond pool_size.")
    pool_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a request waits for a free connection before a 503.",
    )
    pool_recycle: int = Field(
        1800, ge=-1, description="Seconds before a connection is replaced (-1: never)."
    )
    pool_pre_ping: bool = Field(True, description="Test a pooled connection before use.")
    connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to open a connection (driver-level)."
    )
    echo: bool = Field(False, description="Log every SQL statement (logger sqlalchemy.engine).")
    migrations: str | None = Field(
        None,
        description="Alembic script location: a directory, or 'package:directory'.",
    )
    ready_when_behind: bool = Field(
        False,
        description="Readiness stays up when the database's revision is behind the scripts' "
        "head (default: down, the code expects a schema the database lacks).",
    )
    upgrade_on_startup: bool = Field(
        False,
        description="Run the migrations to head at start-up (development; in Kubernetes "
        "run `chassis db upgrade` in an init container instead).",
    )

    @field_validator("url", "async_url")
    @classmethod
    def _valid_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_url(value.get_secret_value())
        return value


class NamedDatabaseSettings(DatabaseSettings):
    """A database of ``databases``: its URL is required."""

    url: SecretStr = Field(description="SQLAlchemy URL of this database.")


class SqlalchemySettings(chassis.PluginSettings, DatabaseSettings):
    """The section ``[sqlalchemy]``: the default database, and ``databases`` by name."""

    databases: dict[str, NamedDatabaseSettings] = Field(
        default_factory=dict,
        description="More databases by name: CHASSIS_SQLALCHEMY__DATABASES__<NAME>__URL...",
    )

    @field_validator("databases")
    @classmethod
    def _no_default_name(
        cls, value: dict[str, NamedDatabaseSettings]
    ) -> dict[str, NamedDatabaseSettings]:
        if DEFAULT in value:
            raise ValueError(
                f"{DEFAULT!r} is the database at the top of the section: set "
                "CHASSIS_SQLALCHEMY__URL, not databases.default"
            )
        return value
