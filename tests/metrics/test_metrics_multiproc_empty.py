"""``PROMETHEUS_MULTIPROC_DIR=""`` (how deploy/k8s switches multiprocess mode off for one
container) counts as unset everywhere: single-process mode, no ``.db`` file written, nothing
about a multiprocess directory in /readyz.

prometheus_client decides at import whether values live in files, by the variable's mere
presence, so each case runs in a fresh interpreter, in a working directory of its own (where
file-backed values with an empty directory would land).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from chassis_test_support import run_python
from metrics_support import parse, value

SERVE = """
import json, os, sys
from pathlib import Path

os.chdir(sys.argv[1])
if sys.argv[2] == "prometheus_client first":
    # as a service module importing prometheus_flask_exporter at its top would
    import prometheus_client  # noqa: F401

import chassis
from connexion.resolver import Resolver

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "empty dir", "version": "1"},
    "paths": {
        "/items/{item_id}": {
            "get": {
                "operationId": "get_item",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True,
                     "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}

app = chassis.App(__name__, settings={"service_name": "empty", "plugins": ["metrics"]})
app.add_api(SPEC, resolver=Resolver(function_resolver=lambda _: lambda item_id: {"id": item_id}))
with app.test_client() as client:
    statuses = [client.get(f"/items/{n}").status_code for n in (1, 2, 3)]
    metrics = client.get("/metrics")
    ready = client.get("/readyz")

open_files = []
for fd in os.listdir("/proc/self/fd"):
    try:
        open_files.append(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        pass
print(json.dumps({
    "statuses": statuses,
    "metrics_status": metrics.status_code,
    "metrics": metrics.text,
    "ready": ready.json(),
    "db_files": sorted(str(p) for p in Path.cwd().rglob("*.db")),
    "open_db_files": sorted(f for f in open_files if f.endswith(".db")),
}))
"""


def _environment(**variables: str) -> dict[str, str]:
    env = {
        key: item
        for key, item in os.environ.items()
        if not key.upper().startswith(("CHASSIS_", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(variables, CHASSIS_LOG_LEVEL="WARNING")
    return env


def _serve(tmp_path: Path, order: str, **variables: str) -> tuple[dict[str, Any], str]:
    """Serve three requests and a scrape in a fresh interpreter; what it reported, its log."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_python(SERVE, str(workdir), order, env=_environment(**variables))
    assert result.returncode == 0, result.stderr
    *logged, last = result.stdout.strip().splitlines()
    served: dict[str, Any] = json.loads(last)
    # Nothing written, wherever: no .db file in the working directory, none open at all.
    assert served["db_files"] == []
    assert served["open_db_files"] == []
    assert list(workdir.iterdir()) == []
    assert served["statuses"] == [200, 200, 200]
    assert served["metrics_status"] == 200
    samples = parse(served["metrics"])
    counted = value(samples, "http_requests_total", method="GET", route="/items/{item_id}")
    assert counted == 3
    assert value(samples, "http_requests_total", method="GET", status="200") == 3
    # Single-process mode: the process collector is there, no multiprocess check in /readyz.
    assert "process_cpu_seconds_total" in samples
    assert "metrics" not in served["ready"]["checks"]
    assert "multiprocess" not in json.dumps(served["ready"])
    return served, "\n".join([*logged, result.stderr])  # chassis logs to stdout


@pytest.mark.parametrize(
    "variables",
    [
        {"PROMETHEUS_MULTIPROC_DIR": ""},
        {"PROMETHEUS_MULTIPROC_DIR": "  "},
        {"prometheus_multiproc_dir": ""},  # the deprecated name prometheus_client still reads
        {"PROMETHEUS_MULTIPROC_DIR": "", "prometheus_multiproc_dir": ""},
    ],
    ids=["empty", "blank", "lower-case empty", "both empty"],
)
def test_metrics_empty_multiproc_dir_is_single_process_mode(
    tmp_path: Path, variables: dict[str, str]
) -> None:
    _, log = _serve(tmp_path, "chassis first", **variables)
    assert "prometheus_client was imported while" not in log


def test_metrics_empty_multiproc_dir_with_prometheus_client_imported_first(
    tmp_path: Path,
) -> None:
    """prometheus_client already chose file-backed values: the app's metrics still stay in
    memory, and the log says why and what to do."""
    _, log = _serve(tmp_path, "prometheus_client first", PROMETHEUS_MULTIPROC_DIR="")
    assert "prometheus_client was imported while PROMETHEUS_MULTIPROC_DIR was set but" in log
    assert "Unset the variable rather than setting it empty" in log


def test_metrics_gunicorn_hooks_with_an_empty_multiproc_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from chassis_metrics import gunicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")

    class Worker:
        pid = 11

    gunicorn.on_starting(server=None)
    gunicorn.child_exit(server=None, worker=Worker())
    assert gunicorn.clear_multiprocess_dir() == 0
    assert list(tmp_path.iterdir()) == []  # no directory made, nothing touched
    assert "PROMETHEUS_MULTIPROC_DIR is not set (or empty)" in caplog.text
