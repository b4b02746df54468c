"""The chassis command: plugins, settings, run, new-plugin (the scaffold installs and passes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from chassis._cli import main
from chassis_test_support import free_port, wait_until_serving

ROOT = Path(__file__).parents[2]
CHASSIS = str(Path(sys.executable).with_name("chassis"))


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CHASSIS_"):
            monkeypatch.delenv(name)


def test_plugins_json_lists_installed_plugins_and_why(
    clean_env, fake_distribution, monkeypatch, capsys
):
    fake_distribution(
        "acme-alpha",
        "1.0.0",
        plugins={"alpha": "acme_alpha"},
        modules={
            "acme_alpha": "import chassis\n@chassis.hookimpl\ndef health_info():\n    return None\n"
        },
    )
    fake_distribution(
        "acme-off",
        "3.0.0",
        plugins={"off": "acme_off"},
        modules={"acme_off": "raise ImportError('never')\n"},
    )
    monkeypatch.setenv("CHASSIS_PLUGINS", "alpha")
    assert main(["plugins", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert listed["alpha"] == {
        "name": "alpha",
        "distribution": "acme-alpha",
        "version": "1.0.0",
        "entry_point": "acme_alpha",
        "enabled": True,
        "reason": None,
        "hooks": ["health_info"],
    }
    assert listed["off"]["enabled"] is False
    assert listed["off"]["reason"] == "not listed in CHASSIS_PLUGINS"


def test_plugins_reports_a_broken_plugin_and_fails(
    clean_env, fake_distribution, monkeypatch, capsys
):
    fake_distribution(
        "acme-off",
        "3.0.0",
        plugins={"off": "acme_off"},
        modules={"acme_off": "raise ImportError('boom')\n"},
    )
    monkeypatch.setenv("CHASSIS_PLUGINS", "off")
    assert main(["plugins"]) == 1
    assert "ImportError: boom" in capsys.readouterr().out


def test_settings_masks_secrets_and_prints_schema(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("CHASSIS_PLUGINS", "")
    monkeypatch.setenv("CHASSIS_HEALTH__DATABASE_URL", "postgresql://u:hunter2@db/x")
    assert main(["settings", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["health"]["database_url"] == "**********"
    assert "hunter2" not in out
    assert main(["settings"]) == 0
    assert "CHASSIS_HEALTH__TIMEOUT = 2.0" in capsys.readouterr().out
    monkeypatch.setenv("CHASSIS_SERVICE_VERSION", "https://robot:pa55word@registry.example/v1")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert 'CHASSIS_SERVICE_VERSION = "https://***@registry.example/v1"' in out
    assert "pa55word" not in out
    assert main(["settings", "--schema"]) == 0
    assert "service_name" in json.loads(capsys.readouterr().out)["properties"]


def test_invalid_settings_are_a_clear_error_not_a_traceback(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("CHASSIS_PLUGINS", "")
    monkeypatch.setenv("CHASSIS_THREADS", "none")
    assert main(["settings"]) == 2
    err = capsys.readouterr().err
    assert "CHASSIS_THREADS (threads): Input should be a valid integer" in err
    assert "Traceback" not in err


def test_run_serves_an_app(tmp_path):
    (tmp_path / "cli_service.py").write_text(
        "import chassis\napp = chassis.App(__name__, settings={'service_name': 'cli-svc'})\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["CHASSIS_PLUGINS"] = ""
    server = subprocess.Popen(
        [CHASSIS, "run", "cli_service:app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        response = httpx.get(f"http://127.0.0.1:{port}/healthz?access_token=s3cr3t&x=1", timeout=2)
        assert response.json()["service"] == "cli-svc"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert "[INFO][-] chassis: cli-svc 0.0.0 on chassis" in output
    # The access log keeps the request but not the credential in its query string.
    assert '"GET /healthz?access_token=***&x=1 HTTP/1.1" 200' in output
    assert "s3cr3t" not in output


def _pip() -> list[str]:
    """pip itself: the workspace's tool venv has it (uv's .venv does not)."""
    tools_pip = ROOT / ".tools" / "bin" / "pip"
    return [str(tools_pip)] if tools_pip.exists() else [sys.executable, "-m", "pip"]


def test_new_plugin_installs_with_pip_and_its_own_test_passes(tmp_path):
    assert main(["new-plugin", "audit_log", "--directory", str(tmp_path)]) == 0
    project = tmp_path / "chassis-audit-log"
    target = tmp_path / "site"
    subprocess.run(
        [*_pip(), "install", "--quiet", "--no-deps", "--target", str(target), str(project)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (target / "chassis_audit_log" / "__init__.py").exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        check=False,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_new_plugin_rejects_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["new-plugin", "Bad-Name", "--directory", str(tmp_path)]) == 2
    assert "not a valid plugin name" in capsys.readouterr().err
    assert main(["new-plugin", "ok", "--directory", str(tmp_path)]) == 0
    assert main(["new-plugin", "ok", "--directory", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_settings_of_an_app_include_the_plugins_it_passes_itself(
    clean_env, monkeypatch, tmp_path, capsys
):
    (tmp_path / "settings_service.py").write_text(
        "import chassis, pydantic\n"
        "class AuditSettings(chassis.PluginSettings):\n"
        "    level: int = 1\n"
        "class Audit:\n"
        "    @chassis.hookimpl\n"
        "    def settings_model(self):\n"
        "        return AuditSettings\n"
        "def create_app():\n"
        "    return chassis.App(__name__, plugins={'audit': Audit()})\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHASSIS_PLUGINS", "")
    monkeypatch.setenv("CHASSIS_AUDIT__LEVEL", "3")

    assert main(["settings"]) == 2  # the command alone does not know the app's own plugin
    assert "name the app, chassis settings module:app" in capsys.readouterr().err
    assert main(["settings", "settings_service:create_app", "--factory"]) == 0
    assert "CHASSIS_AUDIT__LEVEL = 3" in capsys.readouterr().out
    assert main(["settings", "settings_service:create_app", "--factory", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["audit"]["level"] == 3  # no log line mixed in
    assert main(["settings", "settings_service:create_app"]) == 2
    assert "is not a chassis.App (a factory? add --factory)" in capsys.readouterr().err


def test_run_takes_its_grace_period_from_the_settings(clean_env, monkeypatch, tmp_path):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    config = tmp_path / "chassis.toml"
    config.write_text("[shutdown]\ngrace_seconds = 4.5\n")
    monkeypatch.setenv("CHASSIS_CONFIG", str(config))

    assert main(["run", "anything:app"]) == 0
    assert seen["timeout_graceful_shutdown"] == 5  # whole seconds, rounded up
    assert main(["run", "anything:app", "--graceful-timeout", "0.5"]) == 0
    assert seen["timeout_graceful_shutdown"] == 1

    monkeypatch.setenv("CHASSIS_SHUTDOWN__GRACE_SECONDS", "soon")
    assert main(["plugins"]) == 0  # other commands do not read it
    assert main(["run", "anything:app"]) == 2  # a clear settings error, not a traceback


@pytest.mark.parametrize(
    ("name", "message"),
    [("cors", "is a core setting"), ("import", "is a Python keyword"), ("9lives", "not a valid")],
)
def test_new_plugin_refuses_names_that_cannot_work(tmp_path, capsys, name, message):
    assert main(["new-plugin", name, "--directory", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
