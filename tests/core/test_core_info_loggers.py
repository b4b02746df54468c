"""GET /info, and runtime log levels: GET /loggers, PUT /loggers/{name} behind protection."""

from __future__ import annotations

import asyncio
import json
import logging
import platform

import chassis
import pytest

TOKEN = "a-management-token-0123456789"


@pytest.fixture
def chassis_app_class(app_class):
    return app_class


class Cache:
    @chassis.hookimpl
    def info(self, plugin):
        return {"backend": "redis://cache:pw@redis:6379/0", "plugin": plugin.name}


class AsyncInfo:
    @chassis.hookimpl
    async def info(self):
        await asyncio.sleep(0)
        return {"queues": 2}


class BrokenInfo:
    @chassis.hookimpl
    def info(self):
        raise RuntimeError("no license file")


# -- /info -------------------------------------------------------------------------------


def test_info_names_the_service_chassis_python_and_plugins(make_chassis_app, app_class):
    app = make_chassis_app(
        settings={
            "service_name": "orders",
            "service_version": "2.1.0",
            "info": {"git_commit": "abc1234", "build_time": "2026-12-01T10:00:00Z"},
        },
        plugins={"cache": Cache(), "queues": AsyncInfo(), "broken": BrokenInfo()},
    )
    with app.test_client() as client:
        response = client.get("/info")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["service"] == {"name": "orders", "version": "2.1.0"}
    assert body["build"] == {"commit": "abc1234", "time": "2026-12-01T10:00:00Z"}
    assert body["chassis"] == {"version": chassis.__version__, "app_class": app_class.__name__}
    assert body["python"] == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
    }
    assert body["started_at"].endswith("+00:00")
    assert body["uptime_seconds"] >= 0
    plugins = body["plugins"]
    assert list(plugins) == ["cache", "queues", "broken"]
    # Credentials in a section's URLs never leave the process.
    assert plugins["cache"]["info"] == {"backend": "redis://***@redis:6379/0", "plugin": "cache"}
    assert plugins["queues"]["info"] == {"queues": 2}
    assert plugins["broken"]["info"] == {"error": "RuntimeError: no license file"}


def test_info_lists_installed_plugins_with_their_versions(make_chassis_app, fake_distribution):
    fake_distribution(
        "acme-audit",
        "1.4.2",
        plugins={"audit": "acme_audit"},
        modules={
            "acme_audit": "import chassis\n"
            "@chassis.hookimpl\ndef info():\n    return {'topic': 'audit'}\n"
        },
    )
    app = make_chassis_app(autoload=True, settings={"plugins": ["audit"]})
    with app.test_client() as client:
        plugins = client.get("/info").json()["plugins"]
    assert plugins["audit"] == {
        "distribution": "acme-audit",
        "version": "1.4.2",
        "info": {"topic": "audit"},
    }


def test_build_info_comes_from_the_build_file(make_chassis_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build-info.json").write_text(
        json.dumps({"commit": "f00dfeed", "time": "2026-11-30T08:00:00Z", "ref": "main"})
    )
    app = make_chassis_app(settings={"info": {"git_commit": "0verride"}})
    with app.test_client() as client:
        build = client.get("/info").json()["build"]
    assert build == {"commit": "0verride", "time": "2026-11-30T08:00:00Z", "ref": "main"}


def test_a_named_build_file_that_is_missing_stops_start_up(make_chassis_app, tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(chassis.SettingsError, match=r"CHASSIS_INFO__BUILD_FILE.*nope.json"):
        make_chassis_app(settings={"info": {"build_file": str(missing)}})


def test_info_path_is_a_setting_and_it_can_be_off(make_chassis_app):
    moved = make_chassis_app(settings={"info": {"path": "/about"}})
    off = make_chassis_app(settings={"info": {"enabled": False}})
    with moved.test_client() as client:
        assert client.get("/about").status_code == 200
        assert client.get("/info").status_code == 404
        assert client.post("/about").status_code == 405
    with off.test_client() as client:
        assert client.get("/info").status_code == 404


# -- /loggers ----------------------------------------------------------------------------


def test_loggers_are_off_by_default(make_chassis_app):
    with make_chassis_app().test_client() as client:
        assert client.get("/loggers").status_code == 404


def test_loggers_lists_levels_of_this_process(make_chassis_app):
    logging.getLogger("orders.repository").setLevel(logging.WARNING)
    app = make_chassis_app(settings={"log_level": "INFO", "loggers": {"enabled": True}})
    with app.test_client() as client:
        listing = client.get("/loggers").json()
        one = client.get("/loggers/orders.repository").json()
        missing = client.get("/loggers/never.made")
    assert listing["levels"] == ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"]
    loggers = listing["loggers"]
    assert loggers["root"] == {"configured_level": "INFO", "effective_level": "INFO"}
    assert loggers["orders.repository"] == {
        "configured_level": "WARNING",
        "effective_level": "WARNING",
    }
    assert loggers["chassis"]["configured_level"] is None
    assert one["effective_level"] == "WARNING"
    assert isinstance(one["pid"], int)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_changing_a_level_is_off_unless_switched_on(make_chassis_app):
    app = make_chassis_app(settings={"loggers": {"enabled": True}})
    with app.test_client() as client:
        response = client.put("/loggers/chassis", json={"level": "DEBUG"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "CHASSIS_MANAGEMENT__WRITE_ENABLED" in response.json()["detail"]


def test_changes_switched_on_without_protection_stop_start_up(make_chassis_app):
    with pytest.raises(chassis.SettingsError) as error:
        make_chassis_app(settings={"management": {"write_enabled": True}})
    message = str(error.value)
    assert "CHASSIS_MANAGEMENT__WRITE_ENABLED" in message
    assert "CHASSIS_MANAGEMENT__TOKEN" in message and "CHASSIS_MANAGEMENT__SCOPE" in message


def test_a_short_token_is_refused(make_chassis_app):
    with pytest.raises(chassis.SettingsError, match=r"CHASSIS_MANAGEMENT__TOKEN.*16 characters"):
        make_chassis_app(settings={"management": {"write_enabled": True, "token": "secret"}})


def test_a_scope_with_nothing_to_check_it_stops_start_up(make_chassis_app):
    with pytest.raises(chassis.SettingsError, match=r"CHASSIS_MANAGEMENT__SCOPE.*auth plugin"):
        make_chassis_app(settings={"management": {"write_enabled": True, "scope": "ops"}})


def _writable(make_chassis_app, **management):
    return make_chassis_app(
        settings={
            "log_level": "INFO",
            "loggers": {"enabled": True},
            "management": {"write_enabled": True, **management},
        }
    )


def test_the_token_changes_a_level_at_run_time(make_chassis_app, capsys):
    app = _writable(make_chassis_app, token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with app.test_client() as client:
        logging.getLogger("orders").debug("detail")
        assert "orders: detail" not in capsys.readouterr().out
        changed = client.put("/loggers/orders", json={"level": "debug"}, headers=auth)
        logging.getLogger("orders").debug("detail")
        output = capsys.readouterr().out
        reset = client.put("/loggers/orders", json={"level": None}, headers=auth)
    assert changed.status_code == 200
    assert changed.json()["configured_level"] == "DEBUG"
    assert "orders: detail" in output
    assert "log level of 'orders' changed from inherited to DEBUG" in output
    assert reset.json() == {
        "name": "orders",
        "pid": reset.json()["pid"],
        "configured_level": None,
        "effective_level": "INFO",
    }


def test_the_root_level_resets_to_the_setting(make_chassis_app):
    app = _writable(make_chassis_app, token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with app.test_client() as client:
        client.put("/loggers/root", json={"level": "ERROR"}, headers=auth)
        assert logging.getLogger().level == logging.ERROR
        body = client.put("/loggers/root", json={"level": None}, headers=auth).json()
    assert body["configured_level"] == "INFO"


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="management"'),
        ({"Authorization": "Bearer wrong-token-0123456789"}, 'error="invalid_token"'),
        ({"Authorization": f"Basic {TOKEN}"}, 'Bearer realm="management"'),
    ],
    ids=["none", "wrong", "not-bearer"],
)
def test_without_the_token_a_change_is_401(make_chassis_app, headers, challenge):
    app = _writable(make_chassis_app, token=TOKEN)
    with app.test_client() as client:
        response = client.put("/loggers/orders", json={"level": "DEBUG"}, headers=headers)
    assert response.status_code == 401
    assert challenge in response.headers["www-authenticate"]
    assert response.headers["content-type"] == "application/problem+json"
    assert logging.getLogger("orders").level == logging.NOTSET


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"level": "LOUD"}, "level must be one of"),
        ({"lvl": "DEBUG"}, "The body must be a JSON object"),
        ("DEBUG", "The body must be a JSON object"),
    ],
)
def test_a_bad_change_is_a_400_problem(make_chassis_app, body, detail):
    app = _writable(make_chassis_app, token=TOKEN)
    with app.test_client() as client:
        response = client.put(
            "/loggers/orders", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert response.status_code == 400
    assert detail in response.json()["detail"]


class Issuer:
    """Stands in for the auth plugin: tokens are 'scopes:<space-separated scopes>'."""

    @chassis.hookimpl
    async def validate_bearer_token(self, token, scopes):
        if not token.startswith("scopes:"):
            raise ValueError("not a token")
        granted = token.removeprefix("scopes:").split()
        if not set(scopes) <= set(granted):
            error = PermissionError("insufficient scope")
            error.status = 403
            raise error
        return {"sub": "ops", "scopes": granted}


def test_a_scope_is_checked_by_the_token_validating_plugin(make_chassis_app):
    app = make_chassis_app(
        settings={
            "loggers": {"enabled": True},
            "management": {"write_enabled": True, "scope": "ops:write"},
        },
        plugins={"issuer": Issuer()},
    )
    with app.test_client() as client:
        granted = client.put(
            "/loggers/orders",
            json={"level": "ERROR"},
            headers={"Authorization": "Bearer scopes:read ops:write"},
        )
        lacking = client.put(
            "/loggers/orders",
            json={"level": "DEBUG"},
            headers={"Authorization": "Bearer scopes:read"},
        )
        invalid = client.put(
            "/loggers/orders", json={"level": "DEBUG"}, headers={"Authorization": "Bearer x"}
        )
    assert granted.status_code == 200
    assert lacking.status_code == 403
    assert 'error="insufficient_scope"' in lacking.headers["www-authenticate"]
    assert invalid.status_code == 401
    assert logging.getLogger("orders").level == logging.ERROR


@pytest.fixture(autouse=True)
def _restore_levels():
    names = ("orders", "orders.repository")
    root = logging.getLogger().level
    yield
    for name in names:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger().setLevel(root)
