"""A retry while the first request still runs: 409 with Retry-After, never a second run."""

from __future__ import annotations

import threading
import time
from typing import Any

import idempotency_views as views
from idempotency_support import AppMaker, StoreSettings, key, same_response

SLOW = {"item": "a", "wait": True}


def _start_slow(client: Any, results: list[Any], body: dict[str, Any] = SLOW) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: results.append(client.post("/orders", json=body, headers=key("k-1")))
    )
    thread.start()
    assert views.entered.wait(10), "the first request never reached its handler"
    return thread


def test_a_retry_in_flight_is_a_409_with_retry_after(
    make_app: AppMaker, store: StoreSettings
) -> None:
    results: list[Any] = []
    with make_app(store(retry_after=3)).test_client() as client:
        thread = _start_slow(client, results)
        try:
            in_flight = client.post("/orders", json=SLOW, headers=key("k-1"))
            other = client.post("/orders", json={"item": "other"}, headers=key("k-1"))
        finally:
            views.gate.set()
            thread.join(10)
        after = client.post("/orders", json=SLOW, headers=key("k-1"))
    assert in_flight.status_code == 409
    assert in_flight.headers["retry-after"] == "3"
    assert in_flight.headers["content-type"] == "application/problem+json"
    assert in_flight.json()["title"] == "Idempotency-Key in use"
    # Another request with the key while it runs is told so at once, not asked to wait.
    assert other.status_code == 422
    [first] = results
    assert first.status_code == 201
    assert same_response(first, after) and after.headers["idempotent-replayed"] == "true"
    assert views.executions == {"create_order": 1}


def test_a_lock_outlived_by_its_request_lets_a_retry_run(
    make_app: AppMaker, store: StoreSettings
) -> None:
    # lock_timeout bounds how long a key waits for a request that may have died: a retry
    # after it runs the handler; the first response completed stays the stored one.
    body = {"item": "a", "sleep": 1.0}
    results: list[Any] = []
    with make_app(store(lock_timeout="200ms")).test_client() as client:
        thread = _start_slow(client, results, body)
        try:
            time.sleep(0.3)
            retry = client.post("/orders", json=body, headers=key("k-1"))
        finally:
            thread.join(10)
        later = client.post("/orders", json=body, headers=key("k-1"))
    [first] = results
    assert (first.json()["id"], retry.json()["id"]) == (1, 2)
    assert views.executions == {"create_order": 2}
    # The first completed response is kept; the late one does not replace it.
    assert later.headers["idempotent-replayed"] == "true"
    assert later.json()["id"] == 1
