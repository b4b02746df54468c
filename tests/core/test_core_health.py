"""/healthz and /readyz: isolated, time-limited checks; a dependency down is a 503, never a 500."""

from __future__ import annotations

import asyncio
import time

import chassis
import pytest
import sqlalchemy as sa


class Check:
    def __init__(self, report=None, *, delay=0.0, error=None):
        self.report, self.delay, self.error = report, delay, error

    @chassis.hookimpl
    def health_info(self, app):
        time.sleep(self.delay)
        if self.error:
            raise self.error
        return self.report


def test_liveness_names_the_service(make_chassis_app):
    app = make_chassis_app(settings={"service_name": "svc", "service_version": "1.2.3"})
    with app.test_client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "up", "service": "svc", "version": "1.2.3"}


def test_readiness_is_up_when_every_check_is_up(make_chassis_app):
    app = make_chassis_app(plugins={"cache": Check({"cache": {"status": "up", "hits": 3}})})
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"cache": {"status": "up", "hits": 3}}


def test_one_check_down_makes_readiness_503_with_the_detail(make_chassis_app):
    app = make_chassis_app(
        plugins={
            "a": Check({"a": {"status": "up"}}),
            "b": Check({"b": {"status": "down", "error": "no route to host"}}),
        }
    )
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["b"] == {"status": "down", "error": "no route to host"}
    assert body["checks"]["a"] == {"status": "up"}


def test_a_failing_check_is_down_and_named_after_its_plugin(make_chassis_app):
    app = make_chassis_app(plugins={"flaky": Check(error=ConnectionError("refused"))})
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["flaky"] == {
        "status": "down",
        "error": "ConnectionError: refused",
    }


def test_credentials_in_a_check_error_never_reach_the_probe(make_chassis_app):
    url = "redis://default:s3cr3t@10.0.0.5:6379/0"
    app = make_chassis_app(
        plugins={
            "raises": Check(error=ConnectionError(f"Error connecting to {url}")),
            "reports": Check({"reports": {"status": "down", "error": f"cannot reach {url}"}}),
        }
    )
    with app.test_client() as client:
        response = client.get("/readyz")
    assert "s3cr3t" not in response.text
    checks = response.json()["checks"]
    assert checks["raises"]["error"] == (
        "ConnectionError: Error connecting to redis://***@10.0.0.5:6379/0"
    )
    assert checks["reports"]["error"] == "cannot reach redis://***@10.0.0.5:6379/0"


def test_a_sync_check_logs_with_the_probe_request_id(make_chassis_app, capsys):
    import logging

    class Chatty:
        @chassis.hookimpl
        def health_info(self):
            logging.getLogger("chatty").warning("checking")
            return {"chatty": {"status": "up"}}

    app = make_chassis_app(plugins={"chatty": Chatty()})
    with app.test_client() as client:
        client.get("/readyz", headers={"X-Request-ID": "probe-1"})
    assert "[WARNING][probe-1] chatty: checking" in capsys.readouterr().out


def test_other_methods_on_the_probes_are_a_405_problem(make_chassis_app):
    app = make_chassis_app()
    with app.test_client() as client:
        response = client.post("/healthz", headers={"X-Request-ID": "post-1"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["request_id"] == "post-1"


def test_a_slow_check_times_out_without_holding_the_probe(make_chassis_app):
    app = make_chassis_app(
        settings={"health": {"timeout": 0.2}},
        plugins={"slow": Check({"slow": {"status": "up"}}, delay=2), "ok": Check(None)},
    )
    with app.test_client() as client:
        started = time.perf_counter()
        response = client.get("/readyz")
        elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json()["checks"]["slow"]["error"] == "timed out after 0.2 s"
    assert elapsed < 1.5


def test_async_checks_and_invalid_reports(make_chassis_app):
    class Async:
        @chassis.hookimpl
        async def health_info(self):
            await asyncio.sleep(0)
            return {"queue": {"status": "up"}, "odd": {"status": "sideways"}}

    app = make_chassis_app(plugins={"async": Async()})
    with app.test_client() as client:
        body = client.get("/readyz").json()
    assert body["checks"]["queue"] == {"status": "up"}
    assert body["checks"]["odd"]["status"] == "down"


def test_probe_paths_are_settings_and_head_works(make_chassis_app):
    app = make_chassis_app(
        settings={"health": {"liveness_path": "/live", "readiness_path": "/ready"}}
    )
    with app.test_client() as client:
        assert client.get("/live").status_code == 200
        assert client.head("/ready").status_code == 200
        assert client.get("/healthz").status_code == 404


def _alembic_database(url: str, revision: str) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        connection.execute(
            sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        )
        connection.execute(sa.text(f"INSERT INTO alembic_version VALUES ('{revision}')"))
    return engine


def test_database_check_reports_sqlite_and_its_last_migration(make_chassis_app, tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    _alembic_database(url, "ef123ae24f13")
    app = make_chassis_app(settings={"health": {"database_url": url}})
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    database = response.json()["checks"]["database"]
    assert database["status"] == "up"
    assert database["dialect"] == "sqlite"
    assert database["last_migration"] == "ef123ae24f13"


def test_database_check_against_postgresql(make_chassis_app, postgres_url):
    engine = _alembic_database(postgres_url, "a1b2c3d4")
    try:
        app = make_chassis_app(plugins=[chassis.DatabaseCheck(engine)])
        with app.test_client() as client:
            response = client.get("/readyz")
        assert response.status_code == 200
        database = response.json()["checks"]["database"]
        assert database == {
            "status": "up",
            "dialect": "postgresql",
            "last_migration": "a1b2c3d4",
            "latency_ms": database["latency_ms"],
        }
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))


def test_database_without_alembic_is_up_with_no_migration(make_chassis_app, tmp_path):
    app = make_chassis_app(plugins=[chassis.DatabaseCheck(f"sqlite:///{tmp_path / 'x.db'}")])
    with app.test_client() as client:
        database = client.get("/readyz").json()["checks"]["database"]
    assert database["status"] == "up"
    assert database["last_migration"] is None


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:1/test", "sqlite:////nonexistent/dir/x.db"],
    ids=["postgres-port-closed", "sqlite-unopenable"],
)
def test_a_database_that_is_down_makes_readiness_503_not_500(make_chassis_app, url):
    app = make_chassis_app(settings={"health": {"database_url": url}})
    with app.test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    database = response.json()["checks"]["database"]
    assert database["status"] == "down"
    assert database["error"].startswith("OperationalError")


def test_a_check_that_later_times_out_keeps_its_name(make_chassis_app):
    class Flaky:
        delay = 0.0

        @chassis.hookimpl
        def health_info(self):
            time.sleep(self.delay)
            return {"database": {"status": "up"}}

    flaky = Flaky()
    app = make_chassis_app(settings={"health": {"timeout": 0.2}}, plugins={"service": flaky})
    with app.test_client() as client:
        assert client.get("/readyz").json()["checks"] == {"database": {"status": "up"}}
        flaky.delay = 1
        body = client.get("/readyz").json()
    assert body["checks"] == {"database": {"status": "down", "error": "timed out after 0.2 s"}}


def test_probes_answer_under_a_root_path(make_chassis_app, spec):
    # uvicorn --root-path /svc (a path-prefix proxy): the server puts /svc in the ASGI path.
    app = make_chassis_app(spec=spec, settings={"service_name": "svc"})
    with app.test_client(root_path="/svc") as client:
        live = client.get("/svc/healthz")
        ready = client.get("/svc/readyz")
        item = client.get("/svc/items/1")
    assert (live.status_code, ready.status_code, item.status_code) == (200, 200, 200)
    assert live.json()["service"] == "svc"
