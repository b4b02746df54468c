"""Health groups: /startupz, liveness checks, /health/{group} with durations and last errors."""

from __future__ import annotations

import time

import chassis
import pytest


@pytest.fixture
def chassis_app_class(app_class):
    return app_class


class Checks:
    """A plugin whose report the test changes between probes, counting its runs."""

    def __init__(self, report, delay=0.0):
        self.report, self.delay, self.runs = report, delay, 0

    @chassis.hookimpl
    def health_info(self):
        self.runs += 1
        time.sleep(self.delay)
        return self.report


def test_startup_probe_answers_for_the_startup_group_only(make_chassis_app):
    db = Checks({"db": {"status": "down", "error": "refused", "groups": ["startup", "readiness"]}})
    cache = Checks({"cache": {"status": "up"}})
    app = make_chassis_app(settings={"service_name": "svc"}, plugins={"db": db, "cache": cache})
    with app.test_client() as client:
        startup = client.get("/startupz")
        ready = client.get("/readyz")
        db.report = {"db": {"status": "up", "groups": ["startup", "readiness"]}}
        started = client.get("/startupz")
    assert startup.status_code == 503
    assert startup.json() == {
        "status": "down",
        "service": "svc",
        "version": "0.0.0",
        "checks": {
            "db": {"status": "down", "error": "refused", "groups": ["startup", "readiness"]}
        },
    }
    assert ready.status_code == 503
    assert set(ready.json()["checks"]) == {"db", "cache"}
    assert started.status_code == 200
    assert set(started.json()["checks"]) == {"db"}


def test_a_check_outside_readiness_does_not_hold_readiness(make_chassis_app):
    deep = Checks({"warehouse": {"status": "down", "groups": ["deep"]}})
    app = make_chassis_app(plugins={"deep": deep})
    with app.test_client() as client:
        ready = client.get("/readyz")
        group = client.get("/health/deep")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {}
    assert group.status_code == 503
    assert group.json()["group"] == "deep"
    assert group.json()["checks"]["warehouse"]["status"] == "down"


def test_liveness_runs_only_its_own_checks(make_chassis_app):
    heartbeat = Checks({"heartbeat": {"status": "up"}})
    database = Checks({"database": {"status": "down", "error": "refused"}}, delay=0.3)
    app = make_chassis_app(
        settings={"health": {"groups": {"liveness": ["heartbeat"]}}},
        plugins={"heartbeat": heartbeat, "database": database},
    )
    with app.test_client() as client:
        live = client.get("/healthz")
        heartbeat.report = {"heartbeat": {"status": "down", "error": "event loop stuck"}}
        dead = client.get("/healthz")
    assert live.status_code == 200
    assert live.json()["checks"] == {"heartbeat": {"status": "up"}}
    assert dead.status_code == 503
    assert dead.json()["checks"]["heartbeat"]["error"] == "event loop stuck"
    assert database.runs == 0  # a dependency never slows or fails liveness


def test_liveness_without_liveness_checks_keeps_its_body(make_chassis_app):
    database = Checks({"database": {"status": "down"}})
    app = make_chassis_app(settings={"service_name": "svc"}, plugins={"database": database})
    with app.test_client() as client:
        client.get("/readyz")
        live = client.get("/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "up", "service": "svc", "version": "0.0.0"}


def test_a_check_reporting_liveness_joins_the_liveness_probe(make_chassis_app):
    loop = Checks({"loop": {"status": "up", "groups": ["liveness", "readiness"]}})
    app = make_chassis_app(plugins={"loop": loop})
    with app.test_client() as client:
        client.get("/readyz")  # the first report says which groups its checks are in
        live = client.get("/healthz")
    assert live.json()["checks"] == {"loop": {"status": "up", "groups": ["liveness", "readiness"]}}


def test_a_group_shows_each_checks_duration_and_last_error(make_chassis_app):
    slow = Checks({"queue": {"status": "down", "error": "no broker"}}, delay=0.05)
    app = make_chassis_app(plugins={"slow": slow})
    with app.test_client() as client:
        down = client.get("/health/readiness")
        slow.report = {"queue": {"status": "up", "depth": 3}}
        up = client.get("/health/readiness")
    assert down.status_code == 503
    queue = down.json()["checks"]["queue"]
    assert queue["status"] == "down"
    assert queue["groups"] == ["readiness"]
    assert queue["last_error"] == "no broker"
    assert 40 <= queue["duration_ms"] < 1000
    assert up.status_code == 200
    queue = up.json()["checks"]["queue"]
    assert queue["status"] == "up"
    assert queue["depth"] == 3
    # The last error stays visible once the check is up again, with when it happened.
    assert queue["last_error"] == "no broker"
    assert queue["last_error_at"].endswith("+00:00")


def test_a_failing_check_is_timed_and_remembered(make_chassis_app):
    class Broken:
        @chassis.hookimpl
        def health_info(self):
            raise ConnectionError("redis://user:pw@cache:6379 refused")

    app = make_chassis_app(settings={"health": {"timeout": 0.5}}, plugins={"broken": Broken()})
    with app.test_client() as client:
        body = client.get("/health/readiness").json()
    check = body["checks"]["broken"]
    assert check["last_error"] == "ConnectionError: redis://***@cache:6379 refused"
    assert "duration_ms" in check
    assert "pw" not in str(body)


def test_every_group_at_once_and_unknown_groups(make_chassis_app):
    app = make_chassis_app(
        settings={"health": {"groups": {"deep": ["cache"]}}},
        plugins={
            "cache": Checks({"cache": {"status": "down"}}),
            "db": Checks({"db": {"status": "up", "groups": ["startup", "readiness"]}}),
        },
    )
    with app.test_client() as client:
        every = client.get("/health")
        unknown = client.get("/health/nope", headers={"X-Request-ID": "g-1"})
        head = client.head("/health/deep")
    assert every.status_code == 503
    body = every.json()
    assert body["groups"] == {
        "liveness": "up",
        "readiness": "down",
        "startup": "up",
        "deep": "down",
    }
    assert body["checks"]["cache"]["groups"] == ["deep", "readiness"]
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["request_id"] == "g-1"
    assert "liveness, readiness, startup, deep" in unknown.json()["detail"]
    assert head.status_code == 503
    assert head.content == b""


def test_group_paths_are_settings(make_chassis_app):
    app = make_chassis_app(
        settings={"health": {"startup_path": "/started", "groups_path": "/ops/health"}}
    )
    with app.test_client() as client:
        assert client.get("/started").status_code == 200
        assert client.get("/ops/health/readiness").status_code == 200
        assert client.get("/startupz").status_code == 404
        assert client.post("/ops/health/readiness").status_code == 405


def test_group_names_are_checked_at_start_up(make_chassis_app):
    with pytest.raises(chassis.SettingsError, match="CHASSIS_HEALTH__GROUPS"):
        make_chassis_app(settings={"health": {"groups": {"Deep Checks": ["db"]}}})


def test_groups_from_the_environment(make_chassis_app, monkeypatch):
    checks = Checks({"db": {"status": "down"}})
    monkeypatch.setenv("CHASSIS_HEALTH__GROUPS", '{"deep": "db,cache"}')
    app = make_chassis_app(plugins={"db": checks})
    assert app.settings.health.groups == {"deep": ["db", "cache"]}
    with app.test_client() as client:
        assert client.get("/health/deep").json()["checks"]["db"]["groups"] == ["deep", "readiness"]
