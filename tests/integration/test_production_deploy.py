"""The deployment kit: Kubernetes manifests, the Dockerfile, gunicorn's configuration.

Docker has no engine on the test machines: the Dockerfile is checked by reading it, and its
build stage's script (deploy/build-venv.sh) is run outside Docker. The service runs for real
under gunicorn with deploy/gunicorn.conf.py, two uvicorn workers and the ConfigMap's settings.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chassis_test_support import free_port, wait_until_serving
from production_support import (
    BIN,
    DEPLOY,
    GUNICORN_CONF,
    K8S,
    ROOT,
    OtlpReceiver,
    RedisServer,
    clean_env,
    stop_process,
)

pytest.importorskip("uvicorn_worker", reason="needs uvicorn-worker (the root dev group)")

# -- the manifests -------------------------------------------------------------------------


def _documents() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(K8S.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def _find(kind: str, name: str) -> dict[str, Any]:
    for document in _documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def _container() -> dict[str, Any]:
    pod = _find("Deployment", "directmail")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return container


def _configmap() -> dict[str, str]:
    data: dict[str, str] = _find("ConfigMap", "directmail-config")["data"]
    assert all(isinstance(value, str) for value in data.values()), "ConfigMap values are strings"
    return data


def _secret() -> dict[str, str]:
    data: dict[str, str] = _find("Secret", "directmail-secrets")["stringData"]
    return data


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def _image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's final stage."""
    final = _dockerfile().split("\nFROM ")[-1]
    joined = final.replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def _build_info(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` with the image's build-info file made here, by the script the image runs."""
    path = tmp_path / "build-info.json"
    subprocess.run(
        ["sh", str(DEPLOY / "build-info.sh"), str(path)],
        env=clean_env({"GIT_COMMIT": "0123abc", "BUILD_TIME": "2026-12-01T00:00:00Z"}),
        check=True,
        timeout=30,
    )
    assert _image_env()["CHASSIS_INFO__BUILD_FILE"] == "/opt/venv/build-info.json"
    return {**env, "CHASSIS_INFO__BUILD_FILE": str(path)}


def test_every_manifest_is_a_known_kind_and_kustomize_lists_them_all() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present
    kinds = sorted(d["kind"] for d in _documents() if d["kind"] != "Kustomization")
    expected = ["ConfigMap", "Secret", "Deployment", "Deployment", "Service", "Service"]
    assert kinds == sorted([*expected, "PodDisruptionBudget"])
    if shutil.which("kubectl"):
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(K8S)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert rendered.returncode == 0, rendered.stderr
        assert len([d for d in yaml.safe_load_all(rendered.stdout) if d]) == len(kinds)


def test_probes_ports_and_service_match_the_service_settings() -> None:
    import chassis

    health = chassis.HealthSettings()
    container = _container()
    port, management = container["ports"]
    assert port["name"] == "http"
    assert port["containerPort"] == int(_image_env()["PORT"]) == 8080
    assert re.search(r"^EXPOSE 8080$", _dockerfile(), re.M)
    # Probes and metrics on the management port, which the Service does not expose.
    assert management["name"] == "management"
    assert management["containerPort"] == int(_configmap()["CHASSIS_MANAGEMENT__PORT"])

    assert container["startupProbe"]["httpGet"] == {
        "path": health.startup_path,
        "port": "management",
    }
    assert container["livenessProbe"]["httpGet"] == {
        "path": health.liveness_path,
        "port": "management",
    }
    readiness = container["readinessProbe"]
    assert readiness["httpGet"] == {"path": health.readiness_path, "port": "management"}
    # The probe waits longer than every check may take.
    assert readiness["timeoutSeconds"] > float(_configmap()["CHASSIS_HEALTH__TIMEOUT"])

    service = _find("Service", "directmail")
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "directmail"}
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    labels = _find("Deployment", "directmail")["spec"]["template"]["metadata"]["labels"]
    assert labels.items() >= service["spec"]["selector"].items()
    annotations = _find("Deployment", "directmail")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == _configmap()["CHASSIS_MANAGEMENT__PORT"]
    assert annotations["prometheus.io/path"] == "/metrics"


def test_pods_run_as_the_images_non_root_user_on_a_read_only_root() -> None:
    uid = int(re.search(r"^ARG UID=(\d+)$", _dockerfile(), re.M).group(1))  # type: ignore[union-attr]
    assert uid >= 1000
    pod = _find("Deployment", "directmail")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["automountServiceAccountToken"] is False
    container = _container()
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]

    # What the service writes is under a writable emptyDir mount: the Prometheus
    # multiprocess directory and the demonstration database.
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert mount["name"] == volume["name"] and "emptyDir" in volume
    writable = mount["mountPath"].rstrip("/") + "/"
    assert _configmap()["PROMETHEUS_MULTIPROC_DIR"].startswith(writable)
    assert _image_env()["PROMETHEUS_MULTIPROC_DIR"].startswith(writable)
    assert _image_env()["CHASSIS_SQLALCHEMY__URL"].startswith(f"sqlite:///{writable}")

    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def _gunicorn_settings(env: dict[str, str]) -> dict[str, Any]:
    """What deploy/gunicorn.conf.py computes in this environment (run in a subprocess)."""
    code = textwrap.dedent(
        """
        import json, runpy, sys
        conf = runpy.run_path(sys.argv[1])
        keys = ["bind", "workers", "graceful_timeout", "timeout", "keepalive", "max_requests",
                "preload_app", "control_socket_disable"]
        print(json.dumps({k: conf.get(k) for k in keys}
                         | {"grace": conf["ChassisUvicornWorker"].CONFIG_KWARGS[
                             "timeout_graceful_shutdown"]}))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(GUNICORN_CONF)],
        env=clean_env({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/prom", **env}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def test_termination_grace_covers_the_drain_and_the_in_flight_requests() -> None:
    config = _configmap()
    drain = float(config["CHASSIS_SHUTDOWN__DRAIN_SECONDS"])
    grace = float(config["CHASSIS_SHUTDOWN__GRACE_SECONDS"])
    assert drain >= 5, "endpoints take seconds to drop a terminating pod"
    computed = _gunicorn_settings(config)
    assert computed["grace"] == grace
    assert computed["graceful_timeout"] >= drain + grace
    assert computed["workers"] == int(config["GUNICORN_WORKERS"])
    assert computed["bind"] == ["0.0.0.0:8080", "0.0.0.0:9090"]
    assert computed["control_socket_disable"] is True
    pod = _find("Deployment", "directmail")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > computed["graceful_timeout"]
    # No preStop hook: the drain is the service's own (a hook's time would count too).
    assert "lifecycle" not in _container()


def test_gunicorn_defaults_without_settings() -> None:
    computed = _gunicorn_settings({"PORT": "9000"})
    assert computed["bind"] == "0.0.0.0:9000"
    assert computed["workers"] == 2
    assert computed["grace"] == 30
    assert computed["graceful_timeout"] == 35
    assert computed["preload_app"] is False


def test_the_configmap_and_image_settings_start_the_service(tmp_path: Path) -> None:
    """Every CHASSIS_* of the image, the ConfigMap and the Secret is a valid setting."""
    env = _build_info({**_image_env(), **_configmap(), **_secret()}, tmp_path)
    env["CHASSIS_SQLALCHEMY__URL"] = f"sqlite:///{tmp_path / 'dm.db'}"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)  # gunicorn's on_starting makes it
    code = textwrap.dedent(
        """
        import json
        from directmail.service import create_app
        app = create_app()
        print(json.dumps({
            # Registration order (app.active_plugins lists discovery order, see the report).
            "plugins": [name for name, _ in app.plugin_manager.list_name_plugin()],
            "settings": app.settings.model_dump(mode="json"),
        }))
        """
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert output.returncode == 0, output.stderr[-3000:]
    built = json.loads(output.stdout.strip().splitlines()[-1])
    assert built["plugins"] == [*env["CHASSIS_PLUGINS"].split(","), "sqlalchemy", "directmail"]
    settings = built["settings"]
    assert settings["service_name"] == "directmail"
    assert settings["max_body_bytes"] == int(env["CHASSIS_MAX_BODY_BYTES"])
    assert settings["shutdown"]["drain_seconds"] == float(env["CHASSIS_SHUTDOWN__DRAIN_SECONDS"])
    assert settings["optimizer"]["cache_all"] is True
    assert settings["pagination"]["cursor_secret"] == "**********"  # masked, but set
    # The cache URL names the reference Redis Service.
    redis_service = _find("Service", "directmail-redis")
    host_port = f"{redis_service['metadata']['name']}:{redis_service['spec']['ports'][0]['port']}"
    assert f"redis://{host_port}/" in env["CHASSIS_OPTIMIZER__CACHE_URL"]


def test_the_init_container_validates_settings_and_seeds_the_database_once(
    tmp_path: Path,
) -> None:
    pod = _find("Deployment", "directmail")["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    (container,) = pod["containers"]
    assert init["image"] == container["image"]
    assert init["envFrom"] == container["envFrom"]
    assert init["volumeMounts"] == container["volumeMounts"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    env = _build_info({**_image_env(), **_configmap(), **_secret()}, tmp_path)
    env.update({item["name"]: item["value"] for item in init["env"]})
    database = tmp_path / "directmail.db"
    env["CHASSIS_SQLALCHEMY__URL"] = f"sqlite:///{database}"
    command = init["command"]
    # `chassis db upgrade`: the app is built (every setting validated), then migrated.
    assert command[:3] == ["chassis", "db", "upgrade"]
    chassis_command = [str(Path(sys.executable).parent / "chassis"), *command[1:]]
    done = subprocess.run(
        chassis_command,
        cwd=tmp_path,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import sqlite3

    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM premises").fetchone() == (500,)
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
    # A setting with a typo stops the pod in its init container, naming the variable.
    env["CHASSIS_OPTIMIZER__CACHE_TTLL"] = "60"
    failed = subprocess.run(
        chassis_command,
        cwd=tmp_path,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode != 0
    assert "CHASSIS_OPTIMIZER__CACHE_TTLL" in failed.stderr


def test_the_dockerfile_builds_in_one_stage_and_runs_slim_as_non_root() -> None:
    text = _dockerfile()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, re.M)
    assert [name for _, name in stages] == ["uv", "build", "runtime"]
    assert stages[-1][0].startswith("python:") and "-slim" in stages[-1][0]
    final = text.split("\nFROM ")[-1]
    # Nothing is built or installed in the final stage: no compiler, no uv, no pip install.
    assert not re.search(r"apt-get|apk |pip install|uv pip|gcc|build-essential|/uv ", final)
    copies = re.findall(r"^COPY (.*)$", final, re.M)
    assert copies == [
        "--from=build /opt/venv /opt/venv",
        "deploy/gunicorn.conf.py /etc/chassis/gunicorn.conf.py",
    ]
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", final, re.M)
    assert final.index("USER ") < final.index("CMD ")
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M).group(1))  # type: ignore[union-attr]
    assert cmd[:3] == ["gunicorn", "--config", "/etc/chassis/gunicorn.conf.py"]
    assert cmd[3] == "directmail.service:create_app()"
    assert "/healthz" in final and "HEALTHCHECK" in final
    # The build stage runs the script tests/integration runs (test_the_build_script_...).
    assert "sh deploy/build-venv.sh /opt/venv" in text
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    copied = {
        line.split()[-2].split("/")[0]
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from" not in line
    }
    for source in copied:
        assert any(rule.startswith(f"!{source}") for rule in ignore), source


# -- gunicorn serving the example for real ----------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Gunicorn:
    def __init__(
        self,
        tmp_path: Path,
        env: dict[str, str],
        app: str = "directmail.service:create_app()",
        bin_dir: Path = BIN,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # The ConfigMap's management port, on a free port of this machine.
        self.management_port = free_port()
        self.management = f"http://127.0.0.1:{self.management_port}"
        self.log = tmp_path / f"gunicorn-{self.port}.log"
        database = tmp_path / "directmail.db"
        if "CHASSIS_SQLALCHEMY__URL" not in env:
            env["CHASSIS_SQLALCHEMY__URL"] = f"sqlite:///{database}"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(bin_dir / "gunicorn"),
                    "--config",
                    str(GUNICORN_CONF),
                    app,
                ],
                cwd=tmp_path,
                env=clean_env(
                    {
                        **env,
                        "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                        "CHASSIS_MANAGEMENT__PORT": str(self.management_port),
                        "GUNICORN_MANAGEMENT_BIND": f"127.0.0.1:{self.management_port}",
                    }
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until_serving(f"{self.management}/healthz", self.process, timeout=60)
            deadline = time.monotonic() + 30
            workers = int(env.get("GUNICORN_WORKERS", "2"))
            while len(_children(self.process.pid)) < workers:
                assert time.monotonic() < deadline, "workers did not start"
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        return stop_process(self.process, timeout)


def _local_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The ConfigMap's settings, pointed at this machine's dependencies."""
    from chassis_sqlalchemy.testing import migrate
    from directmail.service import MIGRATIONS

    database = f"sqlite:///{tmp_path / 'directmail.db'}"
    migrate(database, MIGRATIONS)  # once, before the workers start, as the init container
    prom = tmp_path / "prom"
    prom.mkdir(exist_ok=True)
    (prom / "counter_99999.db").write_bytes(b"left by a previous run")
    return {
        **_build_info({**_image_env(), **_configmap(), **_secret()}, tmp_path),
        "CHASSIS_SQLALCHEMY__URL": database,
        "CHASSIS_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
        "CHASSIS_SHUTDOWN__DRAIN_SECONDS": "1",
        "CHASSIS_SHUTDOWN__GRACE_SECONDS": "5",
        **overrides,
    }


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.kill()


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.stop()


def test_gunicorn_serves_the_example_with_two_workers_and_every_plugin(
    tmp_path: Path, redis_server: RedisServer, otlp: OtlpReceiver
) -> None:
    env = _local_env(
        tmp_path,
        CHASSIS_OPTIMIZER__CACHE_URL=redis_server.url,
        CHASSIS_TRACING__ENDPOINT=otlp.url,
        # Spans leave only when a worker exits: this checks the flush at exit.
        CHASSIS_TRACING__SCHEDULE_DELAY="120",
    )
    server = Gunicorn(tmp_path, env)
    try:
        assert not (tmp_path / "prom" / "counter_99999.db").exists(), "stale metrics cleared"
        assert len(_children(server.process.pid)) == 2

        live = httpx.get(f"{server.management}/healthz").json()
        assert live == {"status": "up", "service": "directmail", "version": "0.1.0"}
        ready = httpx.get(f"{server.management}/readyz")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert checks["database"]["status"] == "up"
        assert checks["response_cache"]["status"] == "up"
        assert checks["response_cache"]["backend"] == "redis"
        assert checks["metrics"]["multiprocess_dir"] == str(tmp_path / "prom")
        assert checks["tracing"]["exporter"] == "otlp"
        assert "jwks" not in checks  # auth loaded, no issuer configured: nothing to check
        # The management port alone serves probes, /metrics and /info (with the build).
        for path in ("/healthz", "/readyz", "/metrics", "/info"):
            assert httpx.get(f"{server.base}{path}").status_code == 404, path
        info = httpx.get(f"{server.management}/info").json()
        assert info["build"] == {"commit": "0123abc", "time": "2026-12-01T00:00:00Z"}
        assert info["plugins"]["metrics"]["distribution"] == "chassis-metrics"

        # New connections, so that both workers answer.
        def get(path: str, base: str = server.base) -> httpx.Response:
            return httpx.get(f"{base}{path}", headers={"Connection": "close"})

        responses = [get(f"/premises/{n}") for n in range(1, 41)]
        assert {r.status_code for r in responses} == {200}
        # The response cache is Redis, shared by both workers: the second time is a hit
        # whichever worker answers.
        assert "hit" in get("/premises/3").headers["cache-status"]

        for _ in range(4):
            metrics = get("/metrics", server.management).text
            total = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("http_requests_total{")
                and 'route="/premises/{premises_id}"' in line
            )
            assert total == 41
    finally:
        code = server.stop()
    assert code == 0, server.output()[-3000:]
    assert otlp.count() >= 41, "spans buffered in both workers were exported when they exited"
    assert {s["resource"]["service.name"] for s in otlp.spans} == {"directmail"}
    assert {s["resource"]["service.version"] for s in otlp.spans} == {"0.1.0"}


SLOW_APP = """
import time

from directmail.service import create_app as create_directmail

SLOW = {
    "openapi": "3.0.3",
    "info": {"title": "slow", "version": "1"},
    "paths": {
        "/slow": {
            "get": {
                "operationId": "slow_service.slow",
                "parameters": [
                    {"name": "seconds", "in": "query", "schema": {"type": "number"}}
                ],
                "responses": {"200": {"description": "ok",
                    "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        }
    },
}


def slow(seconds=1.0):
    time.sleep(seconds)
    return {"slept": seconds}


def create_app():
    app = create_directmail()
    app.add_api(SLOW, base_path="/test")
    return app
"""


def test_sigterm_under_load_drains_then_stops_without_a_failed_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "slow_service.py").write_text(SLOW_APP)
    drain, grace = 2.0, 6.0
    env = _local_env(
        tmp_path,
        PYTHONPATH=str(tmp_path),
        CHASSIS_OPTIMIZER__CACHE_ALL="false",
        CHASSIS_OPTIMIZER__CACHE_URL="memory://",
        CHASSIS_TRACING__ENDPOINT="",
        CHASSIS_SHUTDOWN__DRAIN_SECONDS=str(drain),
        CHASSIS_SHUTDOWN__GRACE_SECONDS=str(grace),
    )
    server = Gunicorn(tmp_path, env, app="slow_service:create_app()")
    stop_sending = threading.Event()
    statuses: list[int] = []
    failures: list[str] = []
    after_sigterm: list[float] = []
    readiness: list[tuple[float, int, dict[str, Any]]] = []
    sigterm_at = 0.0

    def load() -> None:
        with httpx.Client(base_url=server.base, timeout=10) as client:
            while not stop_sending.is_set():
                try:
                    response = client.get(f"/premises/{random.randint(1, 500)}")
                    statuses.append(response.status_code)
                    if sigterm_at:
                        after_sigterm.append(time.monotonic() - sigterm_at)
                except httpx.HTTPError as error:
                    failures.append(repr(error))

    def balancer() -> None:
        """Stops sending new requests 0.5 s after readiness fails, as a load balancer does."""
        while True:
            try:
                response = httpx.get(f"{server.management}/readyz", timeout=5)
                readiness.append((time.monotonic(), response.status_code, response.json()))
                if response.status_code == 503:
                    time.sleep(0.5)
                    stop_sending.set()
                    return
            except httpx.HTTPError as error:
                failures.append(f"readyz: {error!r}")
                stop_sending.set()
                return
            time.sleep(0.05)

    slow_result: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            response = httpx.get(f"{server.base}/test/slow", params={"seconds": 2.5}, timeout=15)
            slow_result["status"] = response.status_code
            slow_result["finished"] = time.monotonic() - sigterm_at
        except httpx.HTTPError as error:
            slow_result["error"] = repr(error)

    loaders = [threading.Thread(target=load) for _ in range(4)]
    watcher = threading.Thread(target=balancer)
    try:
        for thread in loaders:
            thread.start()
        time.sleep(1.5)
        assert statuses and not failures, failures
        watcher.start()
        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # A request that arrives during the drain and is still running when the workers
        # stop accepting: it must be allowed to finish.
        time.sleep(drain - 0.5)
        slow = threading.Thread(target=slow_request)
        slow.start()
        watcher.join(20)
        for thread in loaders:
            thread.join(20)
        slow.join(20)
        code = server.process.wait(drain + grace + 10)
        stopped_after = time.monotonic() - sigterm_at
    finally:
        stop_sending.set()
        server.stop()

    assert not failures, failures[:5]
    assert set(statuses) == {200}
    assert len(statuses) > 100
    assert after_sigterm and max(after_sigterm) > 0.4, "requests were served during the drain"
    first_503 = next(r for r in readiness if r[1] == 503)
    assert first_503[0] - sigterm_at < 1.0, "readiness failed at once"
    assert first_503[2]["reason"] == "shutting down"
    assert slow_result.get("status") == 200, slow_result
    assert slow_result["finished"] > drain, "the slow request outlived the drain"
    assert code == 0, server.output()[-3000:]
    assert drain <= stopped_after < drain + grace + 5


SIGTERM_WHILE_A_SPAN_IS_LOCKED = """
import asyncio, faulthandler, os, signal

import chassis, chassis_tracing
from chassis._lifespan import install_sigterm

faulthandler.dump_traceback_later(5, exit=True)
app = chassis.App("repro", settings={"plugins": []}, plugins={"tracing": chassis_tracing})
loop = asyncio.new_event_loop()
install_sigterm(app, loop, 1)
tracer = chassis_tracing.runtime(app).tracer
with tracer.start_as_current_span("request") as span:
    with span._lock:  # as inside span.set_attribute() / span.end() / span.add_event()
        os.kill(os.getpid(), signal.SIGTERM)  # the Python-level handler runs right here
print("ok")
"""


def test_sigterm_while_the_current_span_is_locked_does_not_deadlock(tmp_path: Path) -> None:
    """Deterministic form of an intermittent failure of the test above."""
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_WHILE_A_SPAN_IS_LOCKED],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


# -- the image's build steps, outside Docker -------------------------------------------------


def test_the_build_script_makes_an_environment_that_serves(tmp_path: Path) -> None:
    """deploy/build-venv.sh (the Dockerfile's build stage) from uv's cache, then the
    service from that environment under gunicorn."""
    uv = ROOT / ".tools" / "bin" / "uv"
    if not uv.exists():
        uv = Path(shutil.which("uv") or "uv")
    venv = tmp_path / "venv"
    # The interpreter the workspace runs on (the image uses its own python:3.11-slim one).
    base_python = os.path.realpath(sys.executable)

    def build(offline: bool) -> subprocess.CompletedProcess[str]:
        env = clean_env({"UV": str(uv), "PYTHON": base_python, "UV_COMPILE_BYTECODE": "0"})
        env.pop("VIRTUAL_ENV", None)
        if offline:
            env["UV_OFFLINE"] = "1"
        shutil.rmtree(venv, ignore_errors=True)
        return subprocess.run(
            ["sh", str(DEPLOY / "build-venv.sh"), str(venv), str(tmp_path / "wheels")],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    built = build(offline=True)
    if built.returncode != 0 and "network" in built.stderr:
        built = build(offline=False)  # uv's cache lacks index pages: ask the registry once
        if built.returncode != 0 and "network" in built.stderr.lower():
            pytest.skip(f"the package registry is unreachable: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = sorted(p.name.split("-")[0] for p in (tmp_path / "wheels").glob("*.whl"))
    assert wheels == [
        "chassis_auth",
        "chassis_client",
        "chassis_core",
        "chassis_idempotency",
        "chassis_metrics",
        "chassis_optimizer",
        "chassis_pagination",
        "chassis_ratelimit",
        "chassis_sqlalchemy",
        "chassis_tracing",
        "directmail",
    ]
    # Workspace packages are installed from their wheels, not in editable mode from the
    # source tree, and nothing of the test tooling came along.
    listed = subprocess.run(
        [str(uv), "pip", "list", "--python", str(venv / "bin" / "python"), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {p["name"]: p for p in json.loads(listed.stdout)}
    assert "editable_project_location" not in installed["chassis-core"]
    for absent in ("pytest", "ruff", "mypy", "schemathesis", "pip"):
        assert absent not in installed
    for present in ("gunicorn", "uvicorn-worker", "psycopg", "redis", "opentelemetry-sdk"):
        assert present in installed
    assert installed["gunicorn"]["version"] == _locked_version("gunicorn")

    server = Gunicorn(
        tmp_path,
        _local_env(
            tmp_path, CHASSIS_OPTIMIZER__CACHE_URL="memory://", CHASSIS_TRACING__ENDPOINT=""
        ),
        bin_dir=venv / "bin",
    )
    try:
        assert httpx.get(f"{server.management}/readyz").status_code == 200
        assert httpx.get(f"{server.base}/premises/1").json()["id"] == 1
    finally:
        assert server.stop() == 0, server.output()[-3000:]


def _locked_version(name: str) -> str:
    lock = (ROOT / "uv.lock").read_text()
    found = re.search(rf'^name = "{re.escape(name)}"\nversion = "([^"]+)"', lock, re.M)
    assert found is not None
    return found.group(1)
