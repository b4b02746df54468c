"""Database URLs are checked at start-up (CHASSIS_SQLALCHEMY__URL, named databases, and the
deprecated CHASSIS_HEALTH__DATABASE_URL), with a message naming the setting."""

from __future__ import annotations

import logging
import os
from typing import Any

import chassis
import chassis_sqlalchemy
import pytest
from chassis_test_support import run_python


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo+bar://u:secret@h/db", "unknown database dialect or driver 'foo+bar'"),
        ("postgresql+asyncpg://u:secret@h/db", "is not installed"),
        ("not a url", "not a SQLAlchemy URL"),
    ],
)
def test_a_bad_url_stops_start_up_naming_the_setting(
    make_chassis_app: Any, url: str, says: str
) -> None:
    with pytest.raises(chassis.SettingsError) as caught:
        make_chassis_app(settings={"sqlalchemy": {"url": url}}, plugins=[chassis_sqlalchemy])
    message = str(caught.value)
    assert "CHASSIS_SQLALCHEMY__URL (sqlalchemy.url)" in message
    assert says in message
    assert "secret" not in message


def test_a_bad_named_database_url_names_its_variable(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_chassis_app()  # clears CHASSIS_*
    monkeypatch.setenv("CHASSIS_SQLALCHEMY__DATABASES__REPORTING__URL", "nosuch://h/db")
    with pytest.raises(chassis.SettingsError) as caught:
        make_chassis_app(plugins=[chassis_sqlalchemy])
    assert "CHASSIS_SQLALCHEMY__DATABASES__REPORTING__URL" in str(caught.value)


def test_named_databases_from_the_environment(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    make_chassis_app()
    monkeypatch.setenv("CHASSIS_SQLALCHEMY__URL", f"sqlite:///{tmp_path / 'a.db'}")
    monkeypatch.setenv("CHASSIS_SQLALCHEMY__DATABASES__REPORTING__URL", "sqlite:///:memory:")
    monkeypatch.setenv("CHASSIS_SQLALCHEMY__DATABASES__REPORTING__POOL_TIMEOUT", "1.5")
    app = make_chassis_app(plugins=[chassis_sqlalchemy])
    reporting = chassis_sqlalchemy.database(app, "reporting")
    assert reporting.settings.pool_timeout == 1.5
    with app.test_client() as client:
        checks = client.get("/readyz").json()["checks"]
    assert checks["database"]["status"] == checks["database.reporting"]["status"] == "up"


def test_an_async_engine_needs_an_asyncio_driver(make_chassis_app: Any, tmp_path: Any) -> None:
    # Checked once the app class is known: a PluginError naming the plugin and the setting.
    with pytest.raises(chassis.PluginError) as caught:
        make_chassis_app(
            settings={
                "sqlalchemy": {"url": f"sqlite+pysqlite:///{tmp_path / 'a.db'}", "engines": "async"}
            },
            plugins=[chassis_sqlalchemy],
        )
    assert "CHASSIS_SQLALCHEMY__URL" in str(caught.value)
    assert "not an asyncio driver" in str(caught.value)


def test_a_sync_engine_needs_a_plain_driver(make_chassis_app: Any, tmp_path: Any) -> None:
    with pytest.raises(chassis.PluginError) as caught:
        make_chassis_app(
            settings={
                "sqlalchemy": {"url": f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", "engines": "sync"}
            },
            plugins=[chassis_sqlalchemy],
        )
    assert "CHASSIS_SQLALCHEMY__URL" in str(caught.value)
    assert "is an asyncio driver" in str(caught.value)


def test_the_url_is_a_masked_secret(make_chassis_app: Any) -> None:
    app = make_chassis_app(
        settings={"sqlalchemy": {"url": "postgresql+psycopg://u:hunter2@db:5432/app"}},
        plugins=[chassis_sqlalchemy],
    )
    from chassis._cli import printable_settings

    shown = printable_settings(app.settings)["sqlalchemy"]["url"]
    assert shown == "postgresql+psycopg://***@db:5432/app"
    assert "hunter2" not in repr(app.settings)


def test_no_database_is_a_warning_not_a_failure(
    make_chassis_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chassis.sqlalchemy"):
        app = make_chassis_app(plugins=[chassis_sqlalchemy])
    assert "no database configured (set CHASSIS_SQLALCHEMY__URL)" in caplog.text
    with app.test_client() as client:
        assert client.get("/readyz").json()["checks"] == {}


# -- the deprecated kernel setting -------------------------------------------------------------


@pytest.mark.parametrize("with_plugin", [True, False], ids=["plugin", "kernel"])
def test_the_old_setting_with_an_unknown_driver_stops_start_up(
    make_chassis_app: Any, with_plugin: bool
) -> None:
    with pytest.raises((chassis.SettingsError, chassis.PluginError)) as caught:
        make_chassis_app(
            settings={"health": {"database_url": "nosuch://u:secret@h/db"}},
            plugins=[chassis_sqlalchemy] if with_plugin else [],
        )
    message = str(caught.value)
    assert "CHASSIS_HEALTH__DATABASE_URL (health.database_url)" in message
    assert "unknown database dialect or driver 'nosuch'" in message
    assert "secret" not in message


def test_the_old_setting_without_sqlalchemy_stops_start_up() -> None:
    result = run_python(
        """
        import sys
        for name in [m for m in sys.modules if m.startswith("sqlalchemy")]:
            del sys.modules[name]
        sys.modules["sqlalchemy"] = None  # not installed
        import chassis
        try:
            chassis.App("svc", settings={"plugins": []})
        except chassis.SettingsError as error:
            print(error)
        """,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")},
            "CHASSIS_ENV_FILE": "",
            "CHASSIS_HEALTH__DATABASE_URL": "postgresql://u:p@db/app",
        },
    )
    assert (
        "CHASSIS_HEALTH__DATABASE_URL (health.database_url): needs SQLAlchemy" in result.stdout
    ), result.stdout + result.stderr
    assert "pip install chassis-sqlalchemy" in result.stdout


@pytest.mark.parametrize("with_plugin", [True, False], ids=["plugin", "kernel"])
def test_the_old_setting_still_works_with_a_deprecation_message(
    make_chassis_app: Any, with_plugin: bool, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        app = make_chassis_app(
            settings={"health": {"database_url": f"sqlite:///{tmp_path / 'old.db'}"}},
            plugins=[chassis_sqlalchemy] if with_plugin else [],
        )
    assert "CHASSIS_HEALTH__DATABASE_URL is deprecated" in caplog.text
    assert "CHASSIS_SQLALCHEMY__URL" in caplog.text
    with app.test_client() as client:
        checks = client.get("/readyz").json()["checks"]
    assert list(checks) == ["database"]
    assert checks["database"]["status"] == "up"
    if with_plugin:  # the plugin serves it: engines and sessions too
        assert chassis_sqlalchemy.database(app).url.startswith("sqlite:///")
