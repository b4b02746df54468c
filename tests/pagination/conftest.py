"""Databases (SQLite and the real PostgreSQL, 10,000 rows each) and apps for the pagination tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chassis
import chassis_pagination
import pytest
from pagination_support import Database, make_database, resolver, spec
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "CHASSIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("pagination") / "items.db"
    engine = create_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine() -> Iterator[Engine]:
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as error:
        engine.dispose()
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL}: {error.orig}"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(reason)
    yield engine
    engine.dispose()


def _table() -> str:
    """A table name unique to this test session (several sessions may share the database)."""
    return f"chassis_pagination_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def sqlite_db(sqlite_engine: Engine) -> Iterator[Database]:
    db = make_database("sqlite", sqlite_engine, _table())
    yield db
    db.base.metadata.drop_all(sqlite_engine)


@pytest.fixture(scope="session")
def postgresql_db(postgresql_engine: Engine) -> Iterator[Database]:
    db = make_database("postgresql", postgresql_engine, _table())
    yield db
    db.base.metadata.drop_all(postgresql_engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Database:
    """The shared 10,000-row table (read only); each test that takes it runs on both."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A 10,000-row table of the test's own, which it may write to; dropped afterwards."""
    engine: Engine = request.getfixturevalue(f"{request.param}_engine")
    database = make_database(request.param, engine, _table())
    yield database
    database.base.metadata.drop_all(engine)


MakeApp = Callable[..., chassis.App]


@pytest.fixture
def make_app(make_chassis_app: Any) -> MakeApp:
    """``make_app(db, settings={...}, pagination=True)``: the test API over ``db``."""

    def factory(
        db: Database,
        *,
        settings: dict[str, Any] | None = None,
        pagination: bool = True,
        plugins: dict[str, object] | None = None,
    ) -> chassis.App:
        chosen = dict(plugins or {})
        if pagination:
            chosen = {"pagination": chassis_pagination, **chosen}
        return make_chassis_app(  # type: ignore[no-any-return]
            spec=spec(),
            settings=settings or {},
            plugins=chosen,
            api_options={"resolver": resolver(db)},
        )

    return factory


@pytest.fixture
def client_for(make_app: MakeApp) -> Iterator[Callable[..., Any]]:
    """``client_for(db, **app_options)``: a started test client of the test API."""
    clients: list[Any] = []

    def factory(db: Database, **options: Any) -> Any:
        client = make_app(db, **options).test_client()
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)
