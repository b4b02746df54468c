"""Apps on chassis-sqlalchemy over a notes table, on SQLite files and the real PostgreSQL (a
schema of its own per test), built as chassis.App and chassis.AsyncApp."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chassis
import chassis_sqlalchemy
import pytest
from sqlalchemy import create_engine, text

HERE = Path(__file__).parent
SPEC = HERE / "spec.yaml"
NOTES = "CREATE TABLE notes (body VARCHAR(50) PRIMARY KEY)"


@pytest.fixture
def chassis_app_class(app_class: type[chassis.BaseApp]) -> type[chassis.BaseApp]:
    return app_class


@pytest.fixture
def sqlite_urls(tmp_path: Path) -> dict[str, Any]:
    """A notes table in an SQLite file: its sync URL and its aiosqlite one, both engines."""
    path = tmp_path / "notes.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text(NOTES))
    engine.dispose()
    return {
        "url": f"sqlite:///{path}",
        "async_url": f"sqlite+aiosqlite:///{path}",
        "engines": "both",
    }


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a schema of their own (dropped after the test), holding a
    notes table: parallel test runs never see each other's rows."""
    schema = f"sa18_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
        connection.execute(text(f"SET search_path TO {schema}"))
        connection.execute(text(NOTES))
        connection.execute(
            text("CREATE TABLE deferred (value INT UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def notes_app(make_chassis_app: Callable[..., Any]) -> Callable[..., Any]:
    """``notes_app(database_settings, **settings)``: an app serving spec.yaml."""

    def make(database: dict[str, Any], **settings: Any) -> Any:
        return make_chassis_app(
            spec=SPEC,
            settings={"sqlalchemy": database, **settings},
            plugins=[chassis_sqlalchemy],
        )

    return make
