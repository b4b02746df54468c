"""`chassis run` with a management port (real sockets), `chassis info`, `chassis health`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from chassis._cli import main
from chassis_test_support import free_port, wait_until_serving

CHASSIS = str(Path(sys.executable).parent / "chassis")

SERVICE = """\
import os
import chassis

class Deep:
    @chassis.hookimpl
    def health_info(self):
        state = os.environ.get("DEEP_STATE", "up")
        return {"warehouse": {"status": state, "groups": ["deep"]}}

    @chassis.hookimpl
    def info(self):
        return {"warehouse": "eu-1"}

app = chassis.App(
    __name__,
    settings={"service_name": "ops-svc", "service_version": "3.0.1"},
    plugins={"deep": Deep()},
)
app.add_url_rule("/pid", "pid", lambda: {"pid": os.getpid()})
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHASSIS_")}
    env["CHASSIS_PLUGINS"] = "metrics"
    env["PROMETHEUS_MULTIPROC_DIR"] = ""
    env.update(extra)
    return env


@pytest.mark.parametrize("mode", [[], ["--workers", "2"]], ids=["single", "workers"])
def test_run_serves_the_api_and_the_management_port(tmp_path, mode):
    (tmp_path / "ops_service.py").write_text(SERVICE)
    api_port, management_port = free_port(), free_port()
    log = tmp_path / "server.log"
    env = _env()
    if mode:  # several workers share their metrics through a directory
        (tmp_path / "prom").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prom")
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                CHASSIS,
                "run",
                "ops_service:app",
                "--port",
                str(api_port),
                "--management-port",
                str(management_port),
                *mode,
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    api = f"http://127.0.0.1:{api_port}"
    management = f"http://127.0.0.1:{management_port}"
    try:
        # Spawned workers are slow to start on a loaded machine (uvicorn restarts them).
        wait_until_serving(f"{management}/readyz", server, timeout=120)
        assert httpx.get(f"{api}/pid", timeout=2).status_code == 200
        for path in ("/healthz", "/readyz", "/info", "/metrics", "/health/deep"):
            assert httpx.get(f"{api}{path}", timeout=2).status_code == 404, path
            assert httpx.get(f"{management}{path}", timeout=2).status_code == 200, path
        assert httpx.get(f"{management}/pid", timeout=2).status_code == 404
        info = httpx.get(f"{management}/info", timeout=2).json()
        assert info["service"] == {"name": "ops-svc", "version": "3.0.1"}
        assert info["plugins"]["deep"]["info"] == {"warehouse": "eu-1"}
        scrape = httpx.get(f"{management}/metrics", timeout=2).text
        counted = [line for line in scrape.splitlines() if line.startswith("http_requests_total")]
        assert any('status="200"' in line for line in counted), scrape
        # A container's health check without curl: the exit status says it.
        probe = subprocess.run(
            [CHASSIS, "health", "--url", f"{management}/readyz", "--quiet"],
            env=_env(),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0, probe.stderr
        refused = subprocess.run(
            [CHASSIS, "health", "--url", f"{api}/readyz"],
            env=_env(),
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    output = log.read_text()
    # uvicorn's single process re-raises the signal it stopped on, once it has shut down.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def test_run_reads_the_management_port_from_settings(tmp_path):
    (tmp_path / "ops_service.py").write_text(SERVICE)
    api_port, management_port = free_port(), free_port()
    server = subprocess.Popen(
        [CHASSIS, "run", "ops_service:app", "--port", str(api_port)],
        cwd=tmp_path,
        env=_env(CHASSIS_MANAGEMENT__PORT=str(management_port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{management_port}/healthz", server)
        assert httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2).status_code == 404
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


@pytest.fixture
def service(tmp_path, monkeypatch, request):
    """The service module under a name of its own (each test imports it afresh)."""
    for name in list(os.environ):
        if name.startswith("CHASSIS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHASSIS_PLUGINS", "")
    monkeypatch.setenv("CHASSIS_ENV_FILE", "")
    monkeypatch.chdir(tmp_path)
    module = f"ops_cli_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(SERVICE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return module


def test_info_prints_what_the_endpoint_says(service, capsys):
    assert main(["info", f"{service}:app"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["service"] == {"name": "ops-svc", "version": "3.0.1"}
    assert body["plugins"]["deep"]["info"] == {"warehouse": "eu-1"}


@pytest.mark.parametrize(("state", "code"), [("up", 0), ("down", 1)])
def test_health_exit_status_follows_the_group(service, capsys, monkeypatch, state, code):
    monkeypatch.setenv("DEEP_STATE", state)
    assert main(["health", f"{service}:app", "--group", "deep"]) == code
    body = json.loads(capsys.readouterr().out)
    assert body["group"] == "deep"
    assert body["checks"]["warehouse"]["status"] == state
    # The deep check is not in readiness: readiness is up either way.
    assert main(["health", f"{service}:app"]) == 0


def test_health_of_an_unknown_group_is_a_usage_error(service, capsys):
    assert main(["health", f"{service}:app", "--group", "nope"]) == 2
    assert "No health group 'nope'" in capsys.readouterr().err


def test_health_asks_on_the_management_port_when_there_is_one(service, capsys, monkeypatch):
    monkeypatch.setenv("CHASSIS_MANAGEMENT__PORT", "9464")
    assert main(["health", f"{service}:app", "--group", "liveness"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "up"


def test_health_of_a_server_that_is_not_there(capsys):
    port = free_port()
    assert main(["health", "--url", f"http://127.0.0.1:{port}/readyz"]) == 1
    assert "cannot reach" in json.loads(capsys.readouterr().out)["error"]


def test_run_refuses_one_port_for_both(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "nothing:app", "--port", "8123", "--management-port", "8123"]) == 2
    assert "must differ from --port" in capsys.readouterr().err


def test_stack_shows_the_management_port_split(service, capsys, monkeypatch):
    monkeypatch.setenv("CHASSIS_MANAGEMENT__PORT", "9464")
    assert main(["stack", f"{service}:app", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [(row["name"], row["slot"]) for row in rows]
    split = names.index(("ManagementPortMiddleware", "request"))
    assert names.index(("RequestContextMiddleware", "request")) < split
    assert ("HealthMiddleware", "probes") in names
    assert ("ManagementMiddleware", "probes") in names
