"""The Redis store: shared by replicas, namespaced by service, expiring, and Redis down."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import chassis_metrics
import idempotency_views as views
import pytest
from chassis_test_support import free_port
from idempotency_support import AppMaker, StoreSettings, key, same_response


def test_replicas_on_one_redis_share_keys(make_app: AppMaker, redis_store: StoreSettings) -> None:
    one, two = make_app(redis_store()), make_app(redis_store())
    with one.test_client() as first_client, two.test_client() as second_client:
        first = first_client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        again = second_client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        reused = second_client.post("/orders", json={"item": "b"}, headers=key("k-1"))
    assert same_response(first, again) and again.headers["idempotent-replayed"] == "true"
    assert reused.status_code == 422
    assert views.executions == {"create_order": 1}


@pytest.fixture
def services(redis_url: str) -> Iterator[list[str]]:
    """Two service names of this test's own; their keys (default prefix) go afterwards."""
    import redis

    names = [f"orders-{uuid.uuid4().hex[:8]}", f"billing-{uuid.uuid4().hex[:8]}"]
    yield names
    client = redis.Redis.from_url(redis_url)
    try:
        for name in names:
            keys = list(client.scan_iter(match=f"chassis:idempotency:{name}:*"))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


def test_keys_are_namespaced_by_service_and_expire_in_redis(
    make_app: AppMaker, redis_url: str, services: list[str]
) -> None:
    import redis

    orders, billing = (
        make_app({"store_url": redis_url, "ttl": "1h"}, settings={"service_name": name})
        for name in services
    )
    with orders.test_client() as orders_client, billing.test_client() as billing_client:
        first = orders_client.post("/orders", json={"item": "a"}, headers=key("secret-key"))
        other = billing_client.post("/orders", json={"item": "a"}, headers=key("secret-key"))
    assert (first.json()["id"], other.json()["id"]) == (1, 2)
    client = redis.Redis.from_url(redis_url)
    try:
        [stored] = client.keys(f"chassis:idempotency:{services[0]}:*")
        assert b"secret-key" not in stored  # clients' keys never appear in clear
        assert 3590_000 < client.pttl(stored) <= 3600_000
        assert not client.exists(stored + b":lock")  # released once stored
        assert len(client.keys(f"chassis:idempotency:{services[1]}:*")) == 1
    finally:
        client.close()


@pytest.fixture
def dead_redis() -> str:
    """A Redis URL on a local port where nothing listens."""
    return f"redis://127.0.0.1:{free_port()}/0"


def _metric(client: Any, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if (
            line.startswith("chassis_idempotency_requests_total{")
            and f'outcome="{outcome}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_redis_down_rejects_requests_with_a_key_by_default(
    make_app: AppMaker, dead_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app({"store_url": dead_redis}, plugins={"metrics": chassis_metrics})
    with caplog.at_level(logging.WARNING, "chassis.idempotency"), app.test_client() as client:
        refused = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        refused_again = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        without_key = client.post("/orders", json={"item": "a"})
        ready = client.get("/readyz")
        rejected = _metric(client, "store_unavailable")
        errors = client.get("/metrics").text
    assert refused.status_code == refused_again.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Idempotency store unavailable"
    assert refused.headers["retry-after"] == "2"
    assert without_key.status_code == 201
    assert views.executions == {"create_order": 1}
    check = ready.json()["checks"]["idempotency"]
    assert ready.status_code == 200
    assert check["status"] == "up" and check["degraded"] is True and check["reachable"] is False
    assert "ConnectionError" in check["error"]
    assert rejected == 2.0
    assert "chassis_idempotency_store_errors_total" in errors
    warnings = [r.getMessage() for r in caplog.records if r.name == "chassis.idempotency"]
    assert len(warnings) == 1  # not once per request
    assert dead_redis.rsplit(":", 1)[0] in warnings[0]


def test_redis_down_with_proceed_serves_without_idempotency(
    make_app: AppMaker, dead_redis: str
) -> None:
    settings = {"store_url": dead_redis, "on_store_error": "proceed"}
    app = make_app(settings, plugins={"metrics": chassis_metrics})
    with app.test_client() as client:
        served = [client.post("/orders", json={"item": "a"}, headers=key("k-1")) for _ in "ab"]
        unprotected = _metric(client, "unprotected")
    assert [response.status_code for response in served] == [201, 201]
    assert views.executions == {"create_order": 2}
    assert unprotected == 2.0


def test_redis_coming_back_is_used_again_by_itself(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    from idempotency_support import Forwarder

    forwarder = Forwarder(("127.0.0.1", 6379))
    settings = {
        "store_url": f"redis://127.0.0.1:{forwarder.port}/0",
        "key_prefix": key_prefix,
        "retry_interval": "100ms",
    }
    try:
        with make_app(settings).test_client() as client:
            forwarder.up = True
            stored = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
            forwarder.down()
            down = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
            assert client.get("/readyz").json()["checks"]["idempotency"]["degraded"] is True
            forwarder.up = True
            time.sleep(0.15)  # retry_interval
            replayed = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
            ready = client.get("/readyz").json()["checks"]["idempotency"]
    finally:
        forwarder.close()
    assert stored.status_code == 201
    assert down.status_code == 503
    assert same_response(stored, replayed) and replayed.headers["idempotent-replayed"] == "true"
    assert ready == {
        "status": "up",
        "store": "redis",
        "url": settings["store_url"],
        "reachable": True,
    }
    assert views.executions == {"create_order": 1}


def test_redis_lost_while_the_handler_runs_still_sends_its_response(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    import threading

    from idempotency_support import Forwarder

    forwarder = Forwarder(("127.0.0.1", 6379))
    settings = {
        "store_url": f"redis://127.0.0.1:{forwarder.port}/0",
        "key_prefix": key_prefix,
        "retry_interval": "50ms",
        "lock_timeout": "1500ms",
    }
    body = {"item": "a", "wait": True}
    results: list[Any] = []
    app = make_app(settings, plugins={"metrics": chassis_metrics})
    try:
        with app.test_client() as client:
            forwarder.up = True
            thread = threading.Thread(
                target=lambda: results.append(client.post("/orders", json=body, headers=key("k")))
            )
            thread.start()
            assert views.entered.wait(10)
            forwarder.down()  # Redis gone while the handler runs
            views.gate.set()
            thread.join(10)
            forwarder.up = True
            time.sleep(0.1)
            # The key taken before Redis went away is still held until lock_timeout.
            held = client.post("/orders", json=body, headers=key("k"))
            time.sleep(1.5)
            again = client.post("/orders", json=body, headers=key("k"))
            metrics = client.get("/metrics").text
    finally:
        forwarder.close()
    [first] = results
    assert first.status_code == 201 and first.json()["id"] == 1
    assert held.status_code == 409
    assert again.status_code == 201 and again.json()["id"] == 2
    assert (
        'chassis_idempotency_not_stored_total{reason="store_error",route="/orders"} 1.0' in metrics
    )
