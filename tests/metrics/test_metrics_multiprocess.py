"""Several processes for real: gunicorn with two uvicorn workers and PROMETHEUS_MULTIPROC_DIR.

Whichever worker answers the scrape, /metrics reports the requests of both; a killed worker's
live gauge is dropped while its totals stay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from chassis_test_support import free_port
from metrics_support import parse, value

pytest.importorskip("uvicorn_worker", reason="needs the uvicorn-worker package (test extra)")

APP = '''
import os

import chassis

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "mp", "version": "1"},
    "paths": {
        "/items/{item_id}": {
            "get": {
                "operationId": "mp_service.get_item",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True,
                     "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def get_item(item_id):
    return {"id": item_id}


class WorkerHeader:
    """Tells the test which worker answered."""

    def __init__(self, app):
        self.app = app
        self.pid = str(os.getpid()).encode()

    async def __call__(self, scope, receive, send):
        async def send_pid(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-worker-pid", self.pid)]
            await send(message)

        await self.app(scope, receive, send_pid)


app = chassis.APP_CLASS(__name__, settings={"service_name": "mp", "plugins": ["metrics"]})
app.add_api(SPEC)
served = WorkerHeader(app)
'''

CONFIG = """
from chassis_metrics.gunicorn import child_exit, on_starting  # noqa: F401

bind = "127.0.0.1:{port}"
workers = 2
worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 5
timeout = 30
loglevel = "warning"
"""

REQUESTS = "http_requests_total"


def _get(url: str, timeout: float = 5.0) -> httpx.Response:
    # A new connection each time, so that any worker may accept it.
    return httpx.get(url, timeout=timeout, headers={"Connection": "close"})


@pytest.fixture
def gunicorn(
    tmp_path: Path, app_class: type[Any]
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    service = textwrap.dedent(APP).replace("APP_CLASS", app_class.__name__)
    (tmp_path / "mp_service.py").write_text(service)
    (tmp_path / "gunicorn.conf.py").write_text(CONFIG.format(port=port))
    prom = tmp_path / "prom"
    prom.mkdir()
    (prom / "counter_999999.db").write_bytes(b"stale")  # a previous run's file: cleared
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CHASSIS_")}
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(prom),
        PYTHONPATH=str(tmp_path),
        CHASSIS_LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "mp_service:served"],
        cwd=tmp_path,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            assert process.poll() is None, "gunicorn exited at start-up"
            try:
                if _get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start in 40 s"
            time.sleep(0.2)
        yield base, prom, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_metrics_gunicorn_two_workers_report_all_requests(
    gunicorn: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, prom, master = gunicorn
    assert not (prom / "counter_999999.db").exists()

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda n: _get(f"{base}/items/{n}"), range(200)))
    assert {r.status_code for r in responses} == {200}
    served_by = {r.headers["x-worker-pid"] for r in responses}

    # Scrape until both workers have answered a scrape (each time on a new connection);
    # every answer must add up both workers' requests.
    scraped_by: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while len(scraped_by) < 2 and time.monotonic() < deadline:
        response = _get(f"{base}/metrics")
        assert response.status_code == 200
        samples = parse(response.text)
        total = value(samples, REQUESTS, route="/items/{item_id}", status="200")
        assert total == 200, (response.headers["x-worker-pid"], total)
        assert value(samples, REQUESTS) == 200  # /healthz and /metrics are not counted
        assert value(samples, "http_requests_in_progress") == 0
        scraped_by[response.headers["x-worker-pid"]] = total
    assert len(scraped_by) == 2, f"only worker(s) {list(scraped_by)} answered the scrapes"
    assert served_by <= set(scraped_by)
    info = samples["chassis_service_info"]
    assert len(info) == 1 and info[0][0]["service"] == "mp" and info[0][1] == 1

    readiness = _get(f"{base}/readyz").json()
    assert readiness["checks"]["metrics"] == {
        "status": "up",
        "multiprocess_dir": str(prom),
        "writable": True,
    }

    # A worker dies: gunicorn's child_exit hook (chassis_metrics.gunicorn) drops its live
    # gauge; its totals stay, so the count does not go down.
    victim = next(iter(scraped_by))
    os.kill(int(victim), signal.SIGKILL)
    live_gauge = prom / f"gauge_livesum_{victim}.db"
    deadline = time.monotonic() + 20
    while live_gauge.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live_gauge.exists()
    assert (prom / f"counter_{victim}.db").exists()
    for _ in range(4):
        samples = parse(_get(f"{base}/metrics").text)
        assert value(samples, REQUESTS, route="/items/{item_id}") == 200
    assert master.poll() is None
