"""Alembic for a database of an app: its configuration from settings, the commands, the state
of the database against the scripts' head, and what a migrations directory's ``env.py`` calls.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._engines import Database, variable

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection

DATABASE_ATTRIBUTE = "chassis_database"
"""``Config.attributes[DATABASE_ATTRIBUTE]``: the :class:`Database` being migrated."""

# One PostgreSQL advisory lock per database name: pods that start together migrate one after
# the other (the second finds the work done).
_LOCK_NAMESPACE = "chassis-sqlalchemy-migrations"

TEMPLATES = Path(__file__).parent / "templates"


def alembic_config(database: Database, **attributes: Any) -> Config:
    """Alembic's :class:`Config` for ``database``: its scripts (``migrations``) and its URL."""
    from alembic.config import Config

    location = database.settings.migrations
    if location is None:
        raise LookupError(
            f"database {database.name!r} has no migrations directory: set "
            f"{variable(database.name, 'migrations')}"
        )
    # alembic's default stdout is the one of when it was imported: pass today's.
    config = Config(stdout=sys.stdout)
    config.set_main_option("script_location", location)
    # configparser interpolation: a literal % in a password is %%.
    config.set_main_option("sqlalchemy.url", database.migration_url.replace("%", "%%"))
    config.attributes[DATABASE_ATTRIBUTE] = database
    config.attributes.update(attributes)
    return config


_scripts: dict[str, ScriptDirectory] = {}
_scripts_lock = threading.Lock()


def scripts(database: Database) -> ScriptDirectory:
    """The migration scripts of ``database`` (read once per process: they do not change while
    it runs)."""
    from alembic.script import ScriptDirectory

    location = database.settings.migrations
    assert location is not None
    with _scripts_lock:
        found = _scripts.get(location)
        if found is None:
            found = _scripts[location] = ScriptDirectory.from_config(alembic_config(database))
        return found


def revision_state(connection: Connection, database: Database) -> dict[str, Any]:
    """The database's alembic revision against the scripts' head: ``current`` (the revision
    the database is at), ``behind`` (scripts not applied yet), ``ahead`` (a revision these
    scripts do not know: a newer release migrated it) or ``none`` (never migrated)."""
    from sqlalchemy import inspect, text

    # Plain SQL: alembic's MigrationContext would import its whole autogenerate machinery on
    # the first readiness probe.
    current: set[str] = set()
    if inspect(connection).has_table("alembic_version"):
        current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    found: dict[str, Any] = {"last_migration": ",".join(sorted(current)) or None}
    if database.settings.migrations is None:
        return found
    script = scripts(database)
    heads = set(script.get_heads())
    found["head"] = ",".join(sorted(heads)) or None
    if current == heads:
        found["migrations"] = "current"
    elif not current:
        found["migrations"] = "none"
    elif all(_known(script, revision) for revision in current):
        found["migrations"] = "behind"
    else:
        found["migrations"] = "ahead"
    return found


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic's ResolutionError: not one of these scripts
        return False


# -- commands -------------------------------------------------------------------------------


def upgrade(database: Database, revision: str = "head", *, sql: bool = False) -> None:
    from alembic import command

    command.upgrade(alembic_config(database), revision, sql=sql)


def downgrade(database: Database, revision: str, *, sql: bool = False) -> None:
    from alembic import command

    command.downgrade(alembic_config(database), revision, sql=sql)


def current(database: Database, *, verbose: bool = False) -> None:
    from alembic import command

    command.current(alembic_config(database), verbose=verbose)


def revision(
    database: Database, message: str, *, autogenerate: bool = False, rev_id: str | None = None
) -> None:
    from alembic import command

    command.revision(
        alembic_config(database), message=message, autogenerate=autogenerate, rev_id=rev_id
    )


def init(directory: Path, metadata: str | None = None) -> list[Path]:
    """A new migrations directory: ``env.py`` (calling :func:`run_migrations`), alembic's
    script template and an empty ``versions/``."""
    if directory.exists() and any(directory.iterdir()):
        raise FileExistsError(f"{directory} exists and is not empty")
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    env = (TEMPLATES / "env.py.txt").read_text()
    if metadata:
        module, _, attribute = metadata.partition(":")
        env = env.replace(
            "target_metadata = None",
            f"from {module} import {attribute.split('.')[0]}\n\n"
            f"target_metadata = {attribute or 'metadata'}",
        )
    (directory / "env.py").write_text(env)
    shutil.copy(TEMPLATES / "script.py.mako", directory / "script.py.mako")
    (directory / "versions" / ".keep").write_text("")
    return [directory / "env.py", directory / "script.py.mako", directory / "versions"]


# -- env.py -----------------------------------------------------------------------------------


def run_migrations(target_metadata: Any = None, **configure: Any) -> None:
    """Run alembic's migrations: what a migrations directory's ``env.py`` calls.

    Online, on the database of ``chassis db`` (or the connection given in
    ``config.attributes["connection"]``, or ``sqlalchemy.url``); an asyncio driver runs
    through ``run_sync``. Offline (``--sql``), the SQL is printed. On PostgreSQL an advisory
    lock makes concurrent runs (several pods' init containers) take turns.

    :param target_metadata: the models' ``MetaData``, for ``revision --autogenerate``.
    :param configure: more options for ``context.configure`` (``render_as_batch=True`` for
        SQLite ``ALTER``s...).
    """
    from alembic import context

    config = context.config
    database: Database | None = config.attributes.get(DATABASE_ATTRIBUTE)
    url = database.migration_url if database else config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **configure,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_online(connection, target_metadata, configure)
        return
    if url is None:
        raise LookupError("no database URL: run through `chassis db`, or set sqlalchemy.url")
    from sqlalchemy.engine import make_url

    if make_url(url).get_dialect().is_async:
        _run_async(url, target_metadata, configure)
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run_online(connection, target_metadata, configure)
    finally:
        engine.dispose()


def _run_async(url: str, target_metadata: Any, configure: dict[str, Any]) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def run() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(_run_online, target_metadata, configure)
        finally:
            await engine.dispose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run())
        return
    # Called on an event loop (upgrade at start-up): alembic is synchronous, so the async
    # migration runs on a loop of its own, in a thread.
    failure: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=in_thread, name="chassis-migrations")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _run_online(connection: Connection, target_metadata: Any, configure: dict[str, Any]) -> None:
    from alembic import context
    from sqlalchemy import text

    context.configure(connection=connection, target_metadata=target_metadata, **configure)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            key = zlib.crc32(_LOCK_NAMESPACE.encode()) - 2**31
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        context.run_migrations()
