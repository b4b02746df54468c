"""pytest fixtures for services on chassis-sqlalchemy (entry point ``pytest11``).

* ``chassis_db_url`` (session): the test database; override it in a ``conftest.py``
  (default: ``CHASSIS_TEST_DATABASE_URL``, else an SQLite file in a temporary directory).
* ``chassis_db_migrations`` (session): the alembic script location (``"service:migrations"``);
  ``None`` by default.
* ``chassis_db_migrated`` (session): runs those migrations to head once per test session.
* ``chassis_db_connection``: a connection inside a transaction rolled back after the test
  (SQLAlchemy's "joining a session into an external transaction" recipe);
  ``chassis_db``: a ``Session`` on it whose ``commit()`` only releases a savepoint.
* ``chassis_async_db``: the same for ``AsyncSession`` (for ``anyio``-marked async tests).
* :func:`bind_app`: an app's request sessions join the test's transaction, so what requests
  write is rolled back too.
* ``chassis_contract``: ``chassis_contract(app)`` runs schemathesis against the app's spec:
  no 5xx, responses as the spec documents, errors as problem+json with the request id.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._settings import DEFAULT

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "site-packages", '.py", line')


@pytest.fixture(scope="session")
def chassis_db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of the test database; override in a conftest (a PostgreSQL database...)."""
    given = os.environ.get("CHASSIS_TEST_DATABASE_URL")
    if given:
        return given
    return f"sqlite:///{tmp_path_factory.mktemp('chassis-db') / 'test.db'}"


@pytest.fixture(scope="session")
def chassis_db_migrations() -> str | None:
    """The alembic script location of the service (``"package:migrations"`` or a path)."""
    return None


@pytest.fixture(scope="session")
def chassis_db_migrated(chassis_db_url: str, chassis_db_migrations: str | None) -> str:
    """Runs the migrations to head once per test session; the database's URL."""
    if chassis_db_migrations is not None:
        migrate(chassis_db_url, chassis_db_migrations)
    return chassis_db_url


def migrate(url: str, migrations: str, revision: str = "head") -> None:
    """Run alembic's ``migrations`` on ``url`` to ``revision``."""
    from ._engines import Database
    from ._migrations import upgrade
    from ._settings import DatabaseSettings

    settings = DatabaseSettings.model_validate({"url": url, "migrations": migrations})
    upgrade(Database(DEFAULT, settings, async_app=False), revision)


@pytest.fixture(scope="session")
def chassis_db_engine(chassis_db_migrated: str) -> Iterator[Engine]:
    """A sync engine on the (migrated) test database."""
    from sqlalchemy import create_engine

    engine = create_engine(_sync_url(chassis_db_migrated))
    _sqlite_transactions(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def chassis_db_connection(chassis_db_engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    connection = chassis_db_engine.connect()
    transaction = connection.begin()
    try:
        yield connection
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def chassis_db(chassis_db_connection: Connection) -> Iterator[Session]:
    """A ``Session`` inside the test's transaction: its ``commit()`` releases a savepoint,
    everything is rolled back after the test."""
    from sqlalchemy.orm import Session

    session = Session(bind=chassis_db_connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
async def chassis_async_db(chassis_db_migrated: str) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` inside a transaction rolled back after the test (async tests:
    ``@pytest.mark.anyio``). The URL's asyncio driver is used: ``sqlite+aiosqlite`` for
    ``sqlite``, psycopg's async variant for ``postgresql+psycopg``."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(_async_url(chassis_db_migrated), poolclass=NullPool)
    _sqlite_transactions(engine.sync_engine)
    connection = await engine.connect()
    transaction = await connection.begin()
    session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        await session.close()
        await transaction.rollback()
        await connection.close()
        await engine.dispose()


def _sqlite_transactions(engine: Engine) -> None:
    """SQLite's Python driver begins transactions late and breaks savepoints: SQLAlchemy's
    recipe lets SQLAlchemy emit BEGIN itself, so the test's transaction holds everything."""
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def no_implicit_begin(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


@contextlib.contextmanager
def bind_app(app: Any, connection: Connection, name: str = DEFAULT) -> Iterator[None]:
    """Inside the block, the request sessions of ``app``'s database ``name`` join
    ``connection``'s transaction (their commits become savepoints): what requests write is
    rolled back with the test's transaction."""
    from . import database

    factory = database(app, name).sessionmaker
    before = dict(factory.kw)
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        factory.kw.clear()
        factory.kw.update(before)


def _sync_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_dialect().is_async and parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


def _async_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


# -- chassis_contract ---------------------------------------------------------------------------


Contract = Callable[..., dict[str, dict[int, int]]]


@pytest.fixture
def chassis_contract() -> Contract:
    """``chassis_contract(app, *, examples=25, headers=None, negative=True, spec_path=
    "/openapi.json")`` fuzzes every operation of the app's spec with schemathesis (valid and,
    with ``negative``, invalid requests; derandomized, so every run makes the same cases) and
    fails the test on a 5xx, a response the spec does not document, an error that is not
    problem+json with the request id, or a stack trace in a body. Returns the statuses seen,
    per operation (``{"GET /items": {200: 25, 400: 25}}``). Needs ``chassis-sqlalchemy[testing]``.
    """
    return run_contract


def run_contract(
    app: Any,
    *,
    examples: int = 25,
    headers: dict[str, str] | None = None,
    negative: bool = True,
    spec_path: str = "/openapi.json",
) -> dict[str, dict[int, int]]:
    schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_asgi(spec_path, app)
    modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if negative else [])
    seen: dict[str, dict[int, int]] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = f"{operation.method.upper()} {operation.path}"
        counts = seen.setdefault(key, {})
        for mode in modes:
            fuzz = _fuzzer(operation, mode, examples, dict(headers or {}), counts)
            try:
                fuzz()
            except Unsatisfiable:
                continue  # no invalid request exists (an operation without parameters)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as error:  # schemathesis's FailureGroup is a BaseException
                failures.append(f"{key} ({mode}): {error}")
        if any(status >= 500 for status in counts):
            failures.append(f"{key}: server errors {counts}")
    if failures:
        pytest.fail("the app breaks its contract:\n" + "\n\n".join(failures)[:20000])
    return seen


def _fuzzer(
    operation: Any, mode: Any, examples: int, headers: dict[str, str], counts: dict[int, int]
) -> Callable[[], None]:
    from hypothesis import HealthCheck, given, settings

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(headers=headers, additional_checks=[_problem_json])
        counts[response.status_code] = counts.get(response.status_code, 0) + 1

    result: Callable[[], None] = fuzz
    return result


def _problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    text = response.content.decode("utf-8", "replace")
    assert not any(marker in text for marker in TRACE_MARKERS), (
        f"stack trace or path in the body: {text[:300]!r}"
    )
    names = {name.lower(): values[0] for name, values in response.headers.items()}
    assert "x-request-id" in names, "no X-Request-ID header"
    if response.status_code >= 400:
        content_type = names.get("content-type", "").split(";")[0].strip()
        assert content_type == "application/problem+json", (
            f"{response.status_code} with content type {content_type!r}, not problem+json"
        )
        import json

        body = json.loads(response.content)
        assert body.get("status") == response.status_code, f"status {body.get('status')!r}"
        assert body.get("title"), "problem without a title"
        assert body.get("request_id"), "problem without a request_id"
    return None
