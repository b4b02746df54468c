"""``async def`` handlers run on one long-lived event loop per process, not one per request."""

from __future__ import annotations

import os
import sys

import pytest
from chassis_test_support import run_python


def test_async_handlers_share_one_loop_and_see_the_request(chassis_client_for_spec):
    client = chassis_client_for_spec()
    first = client.get("/async/loop", headers={"X-Request-ID": "async-1"}).json()
    second = client.get("/async/loop", headers={"X-Request-ID": "async-2"}).json()
    assert first["loop"] == second["loop"]
    assert first["thread"] == second["thread"] == "chassis-async"
    assert (first["request_id"], second["request_id"]) == ("async-1", "async-2")
    assert first["path"] == "/async/loop"


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

    def make():
        client = make_chassis_app(spec=spec).test_client()
        clients.append(client.__enter__())
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)
