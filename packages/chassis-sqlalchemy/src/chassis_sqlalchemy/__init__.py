"""chassis-sqlalchemy: SQLAlchemy and alembic for chassis services (plugin ``sqlalchemy``).

* Engines from settings (``CHASSIS_SQLALCHEMY__URL``, pools, time-outs, ``echo``, named
  databases under ``CHASSIS_SQLALCHEMY__DATABASES__<NAME>__*``), checked at start-up,
  created when the server starts (the async engine on its event loop) and disposed at
  shutdown: sync engines for :class:`chassis.App`, async ones for :class:`chassis.AsyncApp`.
* :func:`session` / :func:`async_session`: the request's session, committed when the response
  is a success, rolled back on an error, always closed.
* Readiness: each database answers and its alembic revision is the scripts' head.
* ``chassis db upgrade|downgrade|current|revision|init APP``: alembic from the app's settings.
* A database that is down, or a pool without a free connection, is a 503 problem+json that
  names the database.
* A pytest plugin (``chassis_sqlalchemy.testing``): sessions rolled back after each test,
  migrations once per session, ``chassis_contract`` (schemathesis).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import chassis

from ._engines import Database, Databases, variable
from ._errors import DatabaseBusy, DatabaseError, DatabaseUnavailable
from ._migrations import run_migrations
from ._sessions import async_session, session
from ._settings import DEFAULT, DatabaseSettings, NamedDatabaseSettings, SqlalchemySettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "DEFAULT",
    "Database",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseSettings",
    "DatabaseUnavailable",
    "NamedDatabaseSettings",
    "SqlalchemySettings",
    "async_engine",
    "async_session",
    "database",
    "engine",
    "run_migrations",
    "session",
    "upgrade",
]

chassis_plugin_name = "sqlalchemy"
"""The plugin's name when passed as an object: ``App(plugins=[chassis_sqlalchemy])``."""

logger = logging.getLogger("chassis.sqlalchemy")

_OLD_SETTING = "CHASSIS_HEALTH__DATABASE_URL (health.database_url)"


# -- public API ------------------------------------------------------------------------------


def _databases(app: Any) -> Databases:
    context = app.plugin_context(__name__) if app is not None else None
    if context is None or context.state is None:
        raise LookupError("the app does not use the sqlalchemy plugin")
    databases: Databases = context.state
    return databases


def database(app: Any, name: str = DEFAULT) -> Database:
    """The :class:`Database` ``name`` of ``app``: ``engine``, ``async_engine``,
    ``sessionmaker``, ``async_sessionmaker``, ``settings`` (for work outside requests)."""
    return _databases(app).get(name)


def engine(app: Any, name: str = DEFAULT) -> Engine:
    """The sync engine of database ``name`` of ``app``."""
    return database(app, name).engine


def async_engine(app: Any, name: str = DEFAULT) -> AsyncEngine:
    """The async engine of database ``name`` of ``app`` (once the server started)."""
    return database(app, name).async_engine


def upgrade(app: Any, revision: str = "head", name: str = DEFAULT) -> None:
    """Run database ``name``'s migrations to ``revision`` (blocking: from a thread, or before
    serving), as ``chassis db upgrade`` does."""
    from ._migrations import upgrade as run_upgrade

    run_upgrade(database(app, name), revision)


# -- hooks -----------------------------------------------------------------------------------


@chassis.hookimpl
def settings_model() -> type[SqlalchemySettings]:
    return SqlalchemySettings


def _configured(settings: SqlalchemySettings, old_url: Any) -> dict[str, tuple[Any, str | None]]:
    """Each database's settings, with the deprecated kernel setting as the default database's
    URL when the plugin's own is unset."""
    found: dict[str, tuple[Any, str | None]] = {}
    if settings.url is not None:
        found[DEFAULT] = (settings, None)
        if old_url is not None:
            logger.warning(
                "%s is deprecated and ignored: CHASSIS_SQLALCHEMY__URL is set", _OLD_SETTING
            )
    elif old_url is not None:
        from ._urls import check_url

        try:
            check_url(old_url.get_secret_value())
        except ValueError as error:
            raise chassis.SettingsError(f"Invalid settings:\n  {_OLD_SETTING}: {error}") from None
        found[DEFAULT] = (settings.model_copy(update={"url": old_url}), _OLD_SETTING)
    for name, named in settings.databases.items():
        found[name] = (named, None)
    return found


@chassis.hookimpl
def configure_app(app: Any, settings: Any, plugin: chassis.PluginContext) -> None:
    from ._sessions import SessionMiddleware

    async_app = not isinstance(app, chassis.App)
    databases = {
        name: Database(name, section, async_app=async_app, url_setting=setting)
        for name, (section, setting) in _configured(
            plugin.settings, settings.health.database_url
        ).items()
    }
    if not databases:
        logger.warning("sqlalchemy plugin: no database configured (set CHASSIS_SQLALCHEMY__URL)")
    plugin.state = Databases(databases)
    app.add_middleware(SessionMiddleware, slot="routed", order=100, databases=plugin.state)


@chassis.hookimpl
def register_error_handlers(app: Any) -> None:
    from ._errors import handle_busy, handle_unavailable

    app.add_error_handler(DatabaseUnavailable, handle_unavailable)
    app.add_error_handler(DatabaseBusy, handle_busy)


@chassis.hookimpl
async def startup(plugin: chassis.PluginContext) -> None:
    import asyncio

    from ._migrations import upgrade as run_upgrade

    databases: Databases = plugin.state
    for found in databases.by_name.values():
        if found.settings.upgrade_on_startup and found.settings.migrations:
            logger.info("database %r: upgrading to head (%s)", found.name, found.url)
            await asyncio.to_thread(run_upgrade, found)
        elif found.settings.upgrade_on_startup:
            raise chassis.SettingsError(
                f"Invalid settings:\n  {variable(found.name, 'upgrade_on_startup')}: needs "
                f"{variable(found.name, 'migrations')}"
            )
    await databases.start()


@chassis.hookimpl
async def shutdown(plugin: chassis.PluginContext) -> None:
    databases: Databases = plugin.state
    await databases.stop()


@chassis.hookimpl
async def health_info(plugin: chassis.PluginContext) -> dict[str, dict[str, Any]] | None:
    from ._health import report

    databases: Databases = plugin.state
    if not databases.by_name:
        return None
    return await report(databases)


@chassis.hookimpl
def add_cli_commands(commands: Any, load_app: Any) -> None:
    from ._cli import add_commands

    add_commands(commands, load_app)
