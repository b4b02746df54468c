"""A database that is down, or a pool with no free connection, is a 503 problem+json naming
the database, quickly; readiness says which database is down."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sa_handlers
from chassis_test_support import free_port

DOWN = "postgresql+psycopg://postgres@127.0.0.1:{port}/test"


def test_a_database_that_is_down_is_a_503_naming_it(notes_app: Any) -> None:
    app = notes_app({"url": DOWN.format(port=free_port()), "connect_timeout": 1})
    with app.test_client() as client:
        response = client.get("/notes")
        ready = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["database"] == "default"
    assert "'default' is not available" in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert "127.0.0.1" not in response.text  # no connection details leave the process
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["status"] == "down"


def test_a_named_database_that_is_down_is_named(notes_app: Any, sqlite_urls: Any) -> None:
    url = DOWN.format(port=free_port())
    app = notes_app({**sqlite_urls, "databases": {"reporting": {"url": url, "connect_timeout": 1}}})
    with app.test_client() as client:
        response = client.get("/reporting")
        ready = client.get("/readyz").json()
    assert response.status_code == 503
    assert response.json()["database"] == "reporting"
    assert ready["checks"]["database"]["status"] == "up"
    assert ready["checks"]["database.reporting"]["status"] == "down"
    assert ready["checks"]["database.reporting"]["error"].startswith("OperationalError")


def test_a_named_database_that_answers(notes_app: Any, sqlite_urls: Any, tmp_path: Any) -> None:
    app = notes_app(
        {**sqlite_urls, "databases": {"reporting": {"url": f"sqlite:///{tmp_path / 'r.db'}"}}}
    )
    with app.test_client() as client:
        assert client.get("/reporting").json() == {"one": 1}
        assert client.get("/readyz").json()["checks"]["database.reporting"]["status"] == "up"


def test_an_exhausted_pool_is_a_quick_503(notes_app: Any, sqlite_urls: Any) -> None:
    app = notes_app(
        {
            "url": sqlite_urls["url"],
            "pool_size": 1,
            "max_overflow": 0,
            "pool_timeout": 0.3,
        },
        threads=4,
    )
    sa_handlers.RELEASE.clear()
    sa_handlers.HOLDING.clear()
    with app.test_client() as client:
        holder: dict[str, Any] = {}
        thread = threading.Thread(target=lambda: holder.update(r=client.get("/hold")))
        thread.start()
        try:
            assert sa_handlers.HOLDING.wait(10), "the first request never took the connection"
            started = time.monotonic()
            response = client.get("/notes")
            waited = time.monotonic() - started
        finally:
            sa_handlers.RELEASE.set()
            thread.join(10)
        assert holder["r"].status_code == 200
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        body = response.json()
        assert body["database"] == "default"
        assert "no free connection" in body["detail"]
        assert waited < 3, f"the 503 took {waited:.1f} s (pool_timeout 0.3 s)"
        # Once the connection is back, requests are served again.
        assert client.get("/notes").status_code == 200


@pytest.mark.parametrize("path", ["/notes", "/async-notes"])
def test_down_is_a_503_for_async_engines_too(notes_app: Any, path: str) -> None:
    app = notes_app({"url": DOWN.format(port=free_port()), "connect_timeout": 1, "engines": "both"})
    with app.test_client() as client:
        response = client.get(path)
    assert response.status_code == 503
    assert response.json()["database"] == "default"
