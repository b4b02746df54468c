"""The chassis command: plugins, settings, run, new-plugin (the scaffold installs and passes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from chassis._cli import main
from chassis_test_support import (
    chassis_env,
    eventually,
    free_port,
    fresh_venv,
    start_chassis_run,
    user_env,
    wait_until_serving,
)
from packaging.requirements import Requirement

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
    assert json.loads(out)["health"]["database_url"] == "postgresql://***@db/x"
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


def test_settings_show_a_secret_url_without_its_credentials(clean_env, monkeypatch, capsys):
    """As the README says: user:password@ becomes ***@; the rest of the URL is what tells
    which database a service talks to. Secrets that are no URL stay fully masked."""
    monkeypatch.setenv("CHASSIS_PLUGINS", "pagination")
    monkeypatch.setenv("CHASSIS_HEALTH__DATABASE_URL", "postgresql://u:p@db:5432/app")
    monkeypatch.setenv("CHASSIS_PAGINATION__CURSOR_SECRET", "k3y-k3y-k3y-k3y-k3y")

    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert 'CHASSIS_HEALTH__DATABASE_URL = "postgresql://***@db:5432/app"' in out
    assert 'CHASSIS_PAGINATION__CURSOR_SECRET = "**********"' in out
    assert "u:p@" not in out
    assert "k3y" not in out

    assert main(["settings", "--json"]) == 0
    out = capsys.readouterr().out
    values = json.loads(out)
    assert values["health"]["database_url"] == "postgresql://***@db:5432/app"
    assert values["pagination"]["cursor_secret"] == "**********"
    assert "u:p@" not in out
    assert "k3y" not in out


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("postgresql+psycopg://app:pw@db:5432/app", "postgresql+psycopg://***@db:5432/app"),
        ("redis://:pw@[::1]:6379/0", "redis://***@[::1]:6379/0"),
        ("postgresql://db/app?password=pw", "postgresql://db/app?***"),  # in the query
        ("sqlite:///service.db", "sqlite:///service.db"),
        ("https://hooks.example/services/T0/B0/t0k3n", "https://hooks.example/***"),  # path
        ("s3cr3t", "**********"),
        ("x://looks like a url", "**********"),
        ("", ""),
    ],
)
def test_mask_secret(secret, shown):
    from chassis._cli import mask_secret

    assert mask_secret(secret) == shown


def test_invalid_settings_are_a_clear_error_not_a_traceback(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("CHASSIS_PLUGINS", "")
    monkeypatch.setenv("CHASSIS_THREADS", "none")
    assert main(["settings"]) == 2
    err = capsys.readouterr().err
    assert "CHASSIS_THREADS (threads): Input should be a valid integer" in err
    assert "Traceback" not in err


def test_run_serves_an_app(tmp_path, app_class):
    (tmp_path / "cli_service.py").write_text(
        "import chassis\n"
        f"app = chassis.{app_class.__name__}(__name__, settings={{'service_name': 'cli-svc'}})\n"
    )
    port = free_port()
    server = start_chassis_run(
        "cli_service:app", "--port", str(port), cwd=tmp_path, env=chassis_env(CHASSIS_PLUGINS="")
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


PID_SERVICE = """\
import os
import chassis
app = chassis.App(__name__, settings={"service_name": "pid-svc"})
app.add_url_rule("/pid", "pid", lambda: {"pid": os.getpid()})
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def _seconds_until_closed(port: int) -> float:
    """Open a connection, send nothing, and time how long the server keeps it open."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(1024) == b""  # closed by the server, nothing sent
    return time.monotonic() - started


@pytest.mark.parametrize(
    "mode", [[], ["--workers", "2"], ["--reload"]], ids=["single", "workers", "reload"]
)
def test_run_serves_in_every_mode_with_its_header_deadline(tmp_path, mode):
    """--workers and --reload start their workers with "spawn": the header-deadline protocol
    and its deadline must reach them (they once failed to start: PicklingError)."""
    (tmp_path / "pid_service.py").write_text(PID_SERVICE)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["CHASSIS_PLUGINS"] = ""
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                CHASSIS,
                "run",
                "pid_service:app",
                "--port",
                str(port),
                "--header-timeout",
                "1",
                *mode,
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    pids: set[int] = set()
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", server)
        wanted = 2 if "--workers" in mode else 1

        def served_by_every_worker() -> bool:
            with httpx.Client(timeout=2) as client:  # a new connection each time
                pids.add(client.get(f"http://127.0.0.1:{port}/pid").json()["pid"])
            return len(pids) >= wanted

        # Spawned workers start one after the other: slow on a busy machine.
        assert eventually(served_by_every_worker, within=60, step=0)
        assert len(pids) == wanted
        if mode:  # worker processes of the command's process
            assert all(_parent_of(pid) == server.pid for pid in pids)
        else:
            assert pids == {server.pid}
        # A connection that sends no request is closed after --header-timeout.
        assert 0.8 < _seconds_until_closed(port) < 5
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    output = log.read_text()
    # uvicorn's single process re-raises the signal it stopped on, once it has shut down.
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    assert eventually(lambda: not any(_alive(pid) for pid in pids), within=5)


BROKEN_SPEC_SERVICE = """
import chassis

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "broken", "version": "1"},
    "paths": {
        "/a": {"get": {"operationId": "no_such_module.handler",
                       "responses": {"200": {"description": "ok"}}}},
    },
}
app = chassis.App("broken")
app.add_api(SPEC)
"""


def test_run_stops_at_start_up_naming_a_spec_error(tmp_path):
    """A handler the spec names but that cannot be imported: the server must not start and
    answer 500 to everything (uvicorn once took the error for "lifespan unsupported")."""
    (tmp_path / "broken_service.py").write_text(BROKEN_SPEC_SERVICE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["CHASSIS_PLUGINS"] = ""
    done = subprocess.run(
        [CHASSIS, "run", "broken_service:app", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "no_such_module" in output
    assert "the application cannot start" in output
    assert "lifespan unsupported" not in output.lower()


def test_new_plugin_installs_and_passes_its_test_as_the_command_says(tmp_path, monkeypatch, capsys):
    """Run exactly the printed instructions, in a fresh venv (activated, nothing else on PATH):
    the [test] extra brings pytest, and python -m runs the venv's own."""
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "audit_log"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (
        "created chassis-audit-log: "
        "pip install -e 'chassis-audit-log[test]' && python -m pytest chassis-audit-log"
    )
    command = printed.partition(": ")[2]
    # It sees the workspace's packages (chassis-core, pytest...): nothing to download but the
    # build backend, which pip takes from its configured index.
    venv_bin = fresh_venv(tmp_path / "venv", sees="workspace")
    env = user_env(venv_bin)
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout

    # The distribution declares the extra the command installs.
    metadata = subprocess.run(
        [
            str(venv_bin / "python"),
            "-c",
            "import json, importlib.metadata as m; d = m.distribution('chassis-audit-log'); "
            "print(json.dumps([d.metadata.get_all('Provides-Extra'), d.requires, "
            "str(d.locate_file(''))]))",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    extras, requires, location = json.loads(metadata.stdout)
    assert extras == ["test"]
    for_tests = {
        req.name
        for req in map(Requirement, requires)
        if req.marker is not None and req.marker.evaluate({"extra": "test"})
    }
    assert for_tests == {"pytest", "httpx"}
    assert Path(location).is_relative_to(tmp_path / "venv")  # installed in the fresh venv


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
    monkeypatch.setenv("UVICORN_HEADER_TIMEOUT", "10")  # run sets it: undone after the test
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


def test_the_header_deadline_comes_from_the_environment_or_the_class(monkeypatch, caplog):
    from chassis import server

    monkeypatch.delenv(server.HEADER_TIMEOUT_VARIABLE, raising=False)
    assert server.configured_header_timeout() == 10.0
    monkeypatch.setenv(server.HEADER_TIMEOUT_VARIABLE, "2.5")
    assert server.configured_header_timeout() == 2.5
    monkeypatch.setenv(server.HEADER_TIMEOUT_VARIABLE, "soon")
    assert server.configured_header_timeout() == 10.0  # not every connection failing
    assert "UVICORN_HEADER_TIMEOUT='soon' is not a number of seconds" in caplog.text
    assert server.header_deadline_protocol(3).header_timeout == 3  # gunicorn's workers


def test_run_names_the_protocol_and_passes_the_deadline_to_its_workers(clean_env, monkeypatch):
    import uvicorn
    from chassis import server

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setenv(server.HEADER_TIMEOUT_VARIABLE, "1")  # so the test's own is undone
    assert main(["run", "anything:app", "--workers", "2", "--header-timeout", "4"]) == 0
    assert seen["http"] == "chassis.server:HeaderDeadlineProtocol"  # importable in a worker
    assert os.environ[server.HEADER_TIMEOUT_VARIABLE] == "4.0"  # inherited by the workers
