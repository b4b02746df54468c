"""``async def`` handlers run on one long-lived event loop per process, not one per request."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

import core_handlers
import pytest
from chassis._event_loop import handler_loop


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


def test_a_pooled_async_engine_serves_every_request(chassis_client_for_spec, postgres_url):
    from sqlalchemy.ext.asyncio import create_async_engine

    # A real pool: its connections belong to the loop that opened them. With a new loop per
    # request (Connexion's FlaskApp alone) the second request fails on a pooled connection.
    engine = create_async_engine(postgres_url, pool_size=2, max_overflow=0)
    core_handlers.ASYNC_ENGINE = engine
    client = chassis_client_for_spec()
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        futures = [pool.submit(client.get, "/async/database") for _ in range(40)]
        _, pending = wait(futures, timeout=20)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        core_handlers.ASYNC_ENGINE = None
    assert not pending, "requests hung: pooled connections used on another event loop"
    handler_loop.run(engine.dispose())  # on the loop its connections belong to
    responses = [future.result() for future in futures]
    assert [r.status_code for r in responses] == [200] * 40
    assert {r.json()["value"] for r in responses} == {1}


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
