"""A session per request: committed on success, rolled back on an error, one per request;
sync handlers with session(), async ones with async_session(), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import chassis_sqlalchemy
import pytest

PATHS = ["/notes", "/async-notes"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "sqlite":
        found: dict[str, Any] = request.getfixturevalue("sqlite_urls")
        return found
    url = request.getfixturevalue("postgres_schema")
    return {"url": url, "engines": "both"}


@pytest.mark.parametrize("path", PATHS)
def test_a_successful_request_is_committed(notes_app: Any, database: Any, path: str) -> None:
    with notes_app(database).test_client() as client:
        added = client.post(path, params={"text": "kept"})
        assert added.status_code == 201, added.text
        assert client.get(path).json() == ["kept"]


@pytest.mark.parametrize("path", PATHS)
def test_a_handler_error_rolls_back(notes_app: Any, database: Any, path: str) -> None:
    with notes_app(database).test_client() as client:
        failed = client.post(path, params={"text": "lost", "fail": "raise"})
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert client.get(path).json() == []


@pytest.mark.parametrize("path", PATHS)
def test_an_error_status_rolls_back(notes_app: Any, database: Any, path: str) -> None:
    with notes_app(database).test_client() as client:
        refused = client.post(path, params={"text": "refused", "fail": "conflict"})
        assert refused.status_code == 409
        assert client.get(path).json() == []


def test_a_failed_commit_is_an_error_not_a_success(notes_app: Any, postgres_schema: str) -> None:
    with notes_app({"url": postgres_schema}).test_client() as client:
        # The deferred constraint refuses the rows only at COMMIT, after the handler returned
        # 201: the client gets the error, not a success for rows that were never stored.
        response = client.post("/deferred")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_failed_statement_is_an_error(notes_app: Any, sqlite_urls: Any) -> None:
    with notes_app(sqlite_urls).test_client() as client:
        assert client.post("/notes", params={"text": "twice"}).status_code == 201
        again = client.post("/notes", params={"text": "twice"})
        assert again.status_code == 500
        assert client.get("/notes").json() == ["twice"]


def test_one_session_per_request(notes_app: Any, sqlite_urls: Any) -> None:
    with notes_app(sqlite_urls).test_client() as client:
        assert client.get("/same").json() == {"same": True}


def test_sessions_are_closed_after_each_request(notes_app: Any, sqlite_urls: Any) -> None:
    app = notes_app(sqlite_urls)
    with app.test_client() as client:
        for number in range(20):
            assert client.post("/notes", params={"text": f"n{number}"}).status_code == 201
        pool = chassis_sqlalchemy.engine(app).pool
        assert pool.checkedout() == 0


def test_session_outside_a_request_says_why() -> None:
    with pytest.raises(RuntimeError, match="bound to a request"):
        chassis_sqlalchemy.session()


def test_async_session_needs_the_async_engine(notes_app: Any, sqlite_urls: Any) -> None:
    app = notes_app({**sqlite_urls, "engines": "sync"})
    with app.test_client() as client:
        response = client.get("/async-notes")
    assert response.status_code == 500
    with pytest.raises(RuntimeError, match="no async engine"):
        _ = chassis_sqlalchemy.async_engine(app)


def test_engines_are_disposed_at_shutdown(notes_app: Any, sqlite_urls: Any) -> None:
    app = notes_app(sqlite_urls)
    with app.test_client() as client:
        assert client.get("/notes").status_code == 200
        database = chassis_sqlalchemy.database(app)
        assert database._engine is not None and database._async_engine is not None
    assert database._engine is None and database._async_engine is None
