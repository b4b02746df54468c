"""Concurrent retries of one POST on a real Redis: one execution, identical answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import idempotency_views as views
from idempotency_support import AppMaker, StoreSettings, key, same_response

THREADS = 16
BODY = {"item": "a", "sleep": 0.3}


def test_16_threads_retrying_one_post_run_its_handler_once(
    make_app: AppMaker, redis_store: StoreSettings
) -> None:
    # Two replicas on one Redis, each with its own client and event loop, 8 threads each.
    # A generous store time-out: a busy machine must not turn a slow Redis answer into a 503.
    replicas = [make_app(redis_store(store_timeout=5)), make_app(redis_store(store_timeout=5))]
    barrier = threading.Barrier(THREADS)
    first_answers: list[Any] = [None] * THREADS
    final_answers: list[Any] = [None] * THREADS

    def client_thread(index: int, client: Any) -> None:
        barrier.wait()
        response = client.post("/orders", json=BODY, headers=key("order-42"))
        first_answers[index] = response
        # A well-behaved client retries a 409 after Retry-After (shortened here).
        for _ in range(100):
            if response.status_code != 409:
                break
            assert response.headers["retry-after"] == "1"
            time.sleep(0.05)
            response = client.post("/orders", json=BODY, headers=key("order-42"))
        final_answers[index] = response

    with replicas[0].test_client() as one, replicas[1].test_client() as two:
        threads = [
            threading.Thread(target=client_thread, args=(index, (one, two)[index % 2]))
            for index in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert views.executions == {"create_order": 1}
    statuses = sorted(response.status_code for response in first_answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [response for response in first_answers if response.status_code == 201]
    assert created, "no request got the response"
    for response in first_answers:
        if response.status_code == 409:
            assert response.headers["content-type"] == "application/problem+json"
    reference = final_answers[0]
    assert reference.status_code == 201 and reference.json()["id"] == 1
    assert all(same_response(reference, response) for response in final_answers)
    # Exactly one answer ran the handler; every other 201 is a replay.
    assert sum("idempotent-replayed" not in r.headers for r in final_answers) == 1
