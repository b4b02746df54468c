"""Retries, time-outs, the retry budget and the circuit breaker, against a real HTTP server
that fails, hangs and recovers; through sync views and async views on both app classes."""

from __future__ import annotations

import time

import pytest
from client_support import closed_port_url

KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_service_is_retried_until_it_recovers(client_app, downstream, kind):
    downstream.fail(503, 502)
    with client_app().test_client() as client:
        response = client.get(f"/{kind}/items")
    assert response.status_code == 200
    assert response.json()["status"] == 200
    assert downstream.count("/items") == 3


@pytest.mark.parametrize("kind", KINDS)
def test_the_last_answer_comes_back_when_attempts_run_out(client_app, downstream, kind):
    downstream.down(503)
    with client_app(retry={"attempts": 2}).test_client() as client:
        response = client.get(f"/{kind}/items")
    assert response.json()["status"] == 503
    assert downstream.count("/items") == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_post_is_not_retried_unless_it_has_an_idempotency_key(client_app, downstream, kind):
    downstream.fail(503, 503)
    with client_app().test_client() as client:
        plain = client.post(f"/{kind}-post")
        assert plain.json()["status"] == 503
        assert downstream.count("/orders") == 1
        keyed = client.post(f"/{kind}-post", params={"key": "order-7"})
    assert keyed.json()["status"] == 200
    assert downstream.count("/orders") == 3
    assert downstream.seen[-1].headers["idempotency-key"] == "order-7"
    assert downstream.seen[-1].body == b'{"n":1}'


@pytest.mark.parametrize("kind", KINDS)
def test_a_hanging_service_times_out_as_a_504_naming_it(client_app, downstream, kind):
    downstream.hang(3, times=5)
    app = client_app(timeout={"read": 0.2}, retry={"attempts": 2})
    with app.test_client() as client:
        started = time.monotonic()
        response = client.get(f"/{kind}/slow")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["service"] == "down"
    assert "'down'" in body["detail"]
    assert downstream.count("/slow") == 2
    assert elapsed < 2


@pytest.mark.parametrize("kind", KINDS)
def test_the_total_timeout_bounds_the_call_retries_included(client_app, downstream, kind):
    downstream.hang(3, times=5)
    app = client_app(timeout={"read": 5, "total": 0.4}, retry={"attempts": 5})
    with app.test_client() as client:
        started = time.monotonic()
        response = client.get(f"/{kind}/slow")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 1.5


@pytest.mark.parametrize("kind", KINDS)
def test_a_refused_connection_is_retried_even_for_a_post(make_chassis_app, kind):
    import chassis_client
    from client_spec import SPEC
    from client_support import service_settings

    app = make_chassis_app(
        spec=SPEC,
        settings={"client": {"services": {"down": service_settings(closed_port_url())}}},
        plugins=[chassis_client],
    )
    with app.test_client() as client:
        response = client.post(f"/{kind}-post")
        checks = client.get("/readyz").json()["checks"]
    assert response.status_code == 502
    assert response.json()["service"] == "down"
    # Three attempts failed in a row: counted by the breaker (threshold 5: still closed).
    assert checks["downstream:down"]["consecutive_failures"] == 3


@pytest.mark.parametrize("kind", KINDS)
def test_the_breaker_opens_refuses_with_a_503_and_closes_on_recovery(client_app, downstream, kind):
    downstream.down(503)
    app = client_app(retry={"attempts": 1}, breaker={"failure_threshold": 3, "reset_timeout": 0.5})
    with app.test_client() as client:
        for _ in range(3):
            assert client.get(f"/{kind}/items").json()["status"] == 503
        refused = client.get(f"/{kind}/items")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["service"] == "down"
        assert "'down'" in refused.json()["detail"]
        assert refused.json()["request_id"] == refused.headers["x-request-id"]
        assert int(refused.headers["retry-after"]) >= 1
        assert downstream.count("/items") == 3  # the refused call never reached it

        ready = client.get("/readyz")
        check = ready.json()["checks"]["downstream:down"]
        assert ready.status_code == 200  # a dependency down does not take this service out
        assert check["breaker"] == "open" and check["degraded"] is True

        downstream.recover()
        time.sleep(0.55)
        assert client.get(f"/{kind}/items").json()["status"] == 200  # the trial call
        assert client.get("/readyz").json()["checks"]["downstream:down"]["breaker"] == "closed"
        assert client.get(f"/{kind}/items").json()["status"] == 200
    assert downstream.count("/items") == 5


def test_a_failed_trial_call_opens_the_breaker_again(client_app, downstream):
    downstream.down(503)
    app = client_app(retry={"attempts": 1}, breaker={"failure_threshold": 1, "reset_timeout": 0.3})
    with app.test_client() as client:
        client.get("/sync/items")
        assert client.get("/sync/items").status_code == 503
        time.sleep(0.35)
        assert client.get("/sync/items").json()["status"] == 503  # the trial fails
        assert client.get("/sync/items").status_code == 503  # refused again
    assert downstream.count("/items") == 2


def test_readiness_can_depend_on_a_service(client_app, downstream):
    downstream.down(500)
    app = client_app(retry={"attempts": 1}, breaker={"failure_threshold": 1}, readiness=True)
    with app.test_client() as client:
        assert client.get("/readyz").status_code == 200
        client.get("/sync/items")
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["downstream:down"]["status"] == "down"


def test_the_retry_budget_stops_retries_to_a_service_that_keeps_failing(client_app, downstream):
    downstream.down(503)
    app = client_app(
        retry={"attempts": 3, "budget_reserve": 2, "budget_ratio": 0.0},
        breaker={"enabled": False},
    )
    with app.test_client() as client:
        for _ in range(5):
            assert client.get("/sync/items").json()["status"] == 503
        budget = client.get("/readyz").json()["checks"]["downstream:down"]["retry_budget"]
    # Five calls, and only the two retries the budget held (not ten).
    assert downstream.count("/items") == 7
    assert budget == 0


@pytest.mark.parametrize("when", ["seconds", "http-date"])
def test_retry_after_is_honoured(client_app, downstream, when):
    import email.utils

    asked = (
        "5"
        if when == "seconds"
        else email.utils.formatdate(time.time() + 5, usegmt=True)  # RFC 9110's HTTP-date
    )
    downstream.fail((503, {"Retry-After": asked}))
    app = client_app(retry={"backoff_max": 0.3})
    with app.test_client() as client:
        started = time.monotonic()
        assert client.get("/sync/items").json()["status"] == 200
        elapsed = time.monotonic() - started
    # Retry-After asked for 5 s; backoff_max (0.3 s) caps every wait: at least the cap, far
    # from what was asked.
    assert 0.3 <= elapsed < 3


def test_a_half_open_breaker_lets_only_its_trial_calls_through(client_app, downstream):
    import threading

    import chassis_client

    downstream.fail(503)
    app = client_app(
        retry={"attempts": 1},
        breaker={"failure_threshold": 1, "reset_timeout": 0.2, "half_open_calls": 2},
    )
    outcomes: list[object] = []
    with app.test_client():
        down = chassis_client.client("down", app=app)
        assert down.get("/items").status_code == 503  # opens the breaker
        time.sleep(0.25)
        downstream.hang(0.5, times=2)  # the trial calls take a while

        def call() -> None:
            try:
                outcomes.append(down.get("/items").status_code)
            except chassis_client.ServiceUnavailable as refused:
                outcomes.append(refused.service)

        threads = [threading.Thread(target=call) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert sorted(outcomes, key=str) == [200, 200, "down", "down", "down"]
    assert downstream.count("/items") == 3
