"""The directmail example service, built from its own factory with its own plugin: as a
chassis.App (sync handlers) and a chassis.AsyncApp (async handlers on aiosqlite)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from directmail.service import create_app


@pytest.fixture
def client(make_chassis_app, tmp_path, app_class):
    make_chassis_app()  # clears CHASSIS_* from the environment
    app = create_app(
        settings={"plugins": [], "sqlalchemy": {"url": f"sqlite:///{tmp_path / 'dm.db'}"}},
        app_class=app_class,
    )
    with app.test_client() as client:
        yield client


def _items(response):
    body = response.json()
    return body["data"] if isinstance(body, dict) and "data" in body else body


def test_premises_are_seeded_on_first_start(client):
    response = client.get("/premises")
    assert response.status_code == 200
    assert len(_items(response)) >= 25


def test_filters_narrow_the_premises(client):
    rows = _items(
        client.get(
            "/premises",
            params={
                "communities": "Winson,Bibury",
                "rfs": "true",
                "business": "false",
                "rfs_date_after": "2016-01-01",
                "rfs_date_before": "2024-01-01",
                "segments": "S1,S2",
            },
        )
    )
    assert rows
    for row in rows:
        assert row["community"] in ("Winson", "Bibury")
        assert row["rfs"] is True and row["business"] is False
        assert "2016-01-01" <= row["rfs_date"] < "2024-01-01"
        assert row["segment"] in ("S1", "S2")


def test_one_premises_and_a_missing_one(client):
    assert client.get("/premises/1").json()["id"] == 1
    missing = client.get("/premises/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "no premises with id 999999"


def test_bad_filters_are_400_problems(client):
    assert client.get("/premises", params={"rfs": "maybe"}).status_code == 400
    response = client.get("/premises", params={"rfs_date_before": "31/12/2020"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_csv_has_the_same_filters(client):
    response = client.get("/directmail-csv", params={"communities": "Winson", "bduk": "true"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows and all(r["community"] == "Winson" and r["bduk"] == "True" for r in rows)


def test_swagger_ui_and_readiness_with_the_database(client):
    assert client.get("/ui/").status_code == 200
    ready = client.get("/readyz").json()
    assert ready["service"] == "directmail"
    assert ready["checks"]["database"]["status"] == "up"
    assert ready["checks"]["database"]["dialect"] == "sqlite"


def test_chassis_run_serves_the_async_factory(tmp_path):
    """The README's second way to run the example: ``chassis run
    directmail.service:create_async_app --factory``, a real server on the async engine."""
    import signal
    from pathlib import Path

    import httpx
    from chassis_test_support import chassis_env, free_port, start_chassis_run, wait_until_serving

    root = Path(__file__).parents[2]
    port = free_port()
    env = chassis_env(
        CHASSIS_CONFIG=str(root / "examples/directmail/chassis.toml"),
        CHASSIS_SQLALCHEMY__URL=f"sqlite:///{tmp_path / 'dm.db'}",
        CHASSIS_LOG_LEVEL="WARNING",
    )
    server = start_chassis_run(
        "directmail.service:create_async_app",
        "--factory",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        response = httpx.get(f"http://127.0.0.1:{port}/premises", params={"limit": 3}, timeout=5)
        info = httpx.get(f"http://127.0.0.1:{port}/info", timeout=5).json()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    assert response.status_code == 200, output
    assert len(response.json()) == 3
    assert "AsyncApp" in json.dumps(info), info
    assert "Traceback" not in output
