"""`chassis db init|revision|upgrade|current|downgrade APP` from the app's settings, and
readiness reporting the database's revision against the scripts' head ("behind")."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from chassis._cli import main

SERVICE = """
import chassis, chassis_sqlalchemy
app = chassis.App(
    "svc",
    settings={{"plugins": [], "sqlalchemy": {{"url": {url!r}, "migrations": {migrations!r}}}}},
    plugins=[chassis_sqlalchemy],
)
"""

MIGRATION = """
def upgrade() -> None:
    op.create_table("things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("things")
"""


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_chassis_app: Any) -> Any:
    make_chassis_app()  # clears CHASSIS_* from the environment
    monkeypatch.chdir(tmp_path)
    migrations = tmp_path / "migrations"
    url = f"sqlite:///{tmp_path / 'svc.db'}"
    (tmp_path / "svc_app.py").write_text(SERVICE.format(url=url, migrations=str(migrations)))
    yield migrations
    sys.modules.pop("svc_app", None)


def _revision(migrations: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["db", "revision", "svc_app:app", "-m", "things", "--rev-id", "r1"]) == 0
    script = next((migrations / "versions").glob("r1_*.py"))
    source = script.read_text()
    head, _, _ = source.partition("def upgrade()")
    script.write_text(head + textwrap.dedent(MIGRATION))
    capsys.readouterr()
    return "r1"


def test_init_revision_upgrade_current_downgrade(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "init", str(service)]) == 0
    assert (service / "env.py").is_file()
    _revision(service, capsys)

    assert main(["db", "upgrade", "svc_app:app"]) == 0
    assert main(["db", "current", "svc_app:app"]) == 0
    assert "r1 (head)" in capsys.readouterr().out

    assert main(["db", "downgrade", "svc_app:app", "base"]) == 0
    assert main(["db", "current", "svc_app:app"]) == 0
    assert "r1" not in capsys.readouterr().out


def test_upgrade_sql_prints_the_statements(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["db", "init", str(service)])
    _revision(service, capsys)
    assert main(["db", "upgrade", "svc_app:app", "--sql"]) == 0
    assert "CREATE TABLE things" in capsys.readouterr().out


def test_readiness_reports_behind_until_upgraded(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["db", "init", str(service)])
    _revision(service, capsys)
    import svc_app

    with svc_app.app.test_client() as client:
        before = client.get("/readyz")
        assert before.status_code == 503
        check = before.json()["checks"]["database"]
        assert check["status"] == "down"
        assert check["head"] == "r1"
        assert check["migrations"] == "none"
        assert "chassis db upgrade" in check["error"]

        assert main(["db", "upgrade", "svc_app:app"]) == 0
        after = client.get("/readyz")
        assert after.status_code == 200
        check = after.json()["checks"]["database"]
        assert check["migrations"] == "current"
        assert check["last_migration"] == check["head"] == "r1"


def test_an_app_without_the_plugin_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bare_app.py").write_text(
        "import chassis\napp = chassis.App('bare', settings={'plugins': []})\n"
    )
    assert main(["db", "upgrade", "bare_app:app"]) == 2
    assert "does not use the sqlalchemy plugin" in capsys.readouterr().err


def test_no_migrations_directory_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nomig_app.py").write_text(
        "import chassis, chassis_sqlalchemy\n"
        "app = chassis.App('x', settings={'plugins': [], 'sqlalchemy': {'url': 'sqlite://'}},"
        " plugins=[chassis_sqlalchemy])\n"
    )
    assert main(["db", "upgrade", "nomig_app:app"]) == 2
    assert "CHASSIS_SQLALCHEMY__MIGRATIONS" in capsys.readouterr().err


def test_kernel_commands_import_no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from chassis import _cli

    called: list[str] = []
    monkeypatch.setattr(_cli, "add_plugin_commands", lambda parser: called.append("loaded"))
    with pytest.raises(SystemExit):
        main(["plugins", "--help"])
    assert called == []
