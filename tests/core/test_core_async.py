"""``async def`` handlers run on the server's event loop, the one their app started on."""

from __future__ import annotations

import asyncio
import http.server
import os
import sys
import threading

import chassis
import httpx
import pytest
from chassis_test_support import run_python


class _StartupLoop:
    """A plugin that notes the loop its startup ran on and makes loop-bound objects there."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url

    @chassis.hookimpl
    async def startup(self, app):
        app.extras["startup_loop"] = id(asyncio.get_running_loop())
        ready = asyncio.Event()
        ready.set()
        app.extras["ready"] = ready
        if self.url is not None:
            client = httpx.AsyncClient()
            await client.get(self.url)  # a pooled connection, opened on this loop
            app.extras["client"] = client

    @chassis.hookimpl
    async def shutdown(self, app):
        if "client" in app.extras:
            await app.extras["client"].aclose()


def test_async_handlers_run_on_the_loop_the_app_started_on(chassis_client_for_spec):
    client = chassis_client_for_spec(plugins={"startup_loop": _StartupLoop()})
    first = client.get("/async/loop", headers={"X-Request-ID": "async-1"}).json()
    second = client.get("/async/loop", headers={"X-Request-ID": "async-2"}).json()
    assert first["loop"] == second["loop"] == client.app.extras["startup_loop"]
    assert first["thread"] == second["thread"]
    assert (first["request_id"], second["request_id"]) == ("async-1", "async-2")
    assert first["path"] == "/async/loop"


@pytest.mark.flask_only
def test_without_a_lifespan_async_handlers_share_a_loop_of_their_own(make_chassis_app, spec):
    client = make_chassis_app(spec=spec).test_client()  # no ``with``: no lifespan
    first = client.get("/async/loop").json()
    second = client.get("/async/loop").json()
    assert first["loop"] == second["loop"]
    assert first["thread"] == second["thread"] == "chassis-async"


async def startup_objects() -> dict[str, object]:
    app = chassis.current_context.app
    await asyncio.wait_for(app.extras["ready"].wait(), 1)  # an Event bound to startup's loop
    response = await app.extras["client"].get(app.extras["url"])
    return {"status": response.status_code}


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_objects_made_at_startup_work_in_async_handlers(make_chassis_app):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "startup objects", "version": "1"},
        "paths": {
            "/objects": {
                "get": {
                    "operationId": f"{__name__}.startup_objects",
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    app = make_chassis_app(spec=spec, plugins={"startup_loop": _StartupLoop(url)})
    app.extras["url"] = url
    try:
        with app.test_client() as client:
            for _ in range(3):
                response = client.get("/objects")
                assert response.status_code == 200, response.text
                assert response.json() == {"status": 204}
    finally:
        server.shutdown()


async def cancelled() -> dict[str, object]:
    task = asyncio.current_task()
    assert task is not None
    task.cancel()
    await asyncio.sleep(0)
    return {"never": True}


def test_a_cancelled_async_handler_is_a_problem_500_with_the_request_id(make_chassis_app):
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "cancelled", "version": "1"},
        "paths": {
            "/cancelled": {
                "get": {
                    "operationId": f"{__name__}.cancelled",
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    for lifespan in (True, False):
        app = make_chassis_app(spec=spec)
        client = app.test_client()
        if lifespan:
            client.__enter__()
        response = client.get("/cancelled", headers={"X-Request-ID": "cancel-1"})
        if lifespan:
            client.__exit__(None, None, None)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["x-request-id"] == "cancel-1"
        assert response.json()["request_id"] == "cancel-1"


def test_an_async_handler_that_raises_is_a_problem_500(chassis_client_for_spec):
    response = chassis_client_for_spec().get("/async/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text


_POOLED_ENGINE_SERVICE = """
import sys
from concurrent.futures import ThreadPoolExecutor

import chassis
import core_handlers
from sqlalchemy.ext.asyncio import create_async_engine

core_handlers.ASYNC_ENGINE = create_async_engine(sys.argv[1], pool_size=2, max_overflow=0)
app = chassis.App("pooled", settings={"plugins": [], "log_level": "WARNING"})
app.add_api(sys.argv[2])
with app.test_client() as client, ThreadPoolExecutor(max_workers=4) as pool:
    responses = list(pool.map(lambda _: client.get("/async/database"), range(40)))
print([r.status_code for r in responses].count(200), {r.json().get("value") for r in responses})
"""


def test_a_pooled_async_engine_serves_every_request(postgres_url, spec):
    # A real pool: its connections belong to the loop that opened them. With a new loop per
    # request (Connexion's FlaskApp alone) requests hang on pooled connections; in a process
    # of its own, so that a hang fails this test instead of stalling the whole run.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(spec.parent), *sys.path])}
    done = run_python(_POOLED_ENGINE_SERVICE, postgres_url, str(spec), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["40", "{1}"]


@pytest.fixture
def chassis_client_for_spec(make_chassis_app, spec):
    clients = []

    def make(**options):
        client = make_chassis_app(spec=spec, **options).test_client()
        clients.append(client.__enter__())
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)
