"""Miss coalescing: concurrent misses of one entry run the view once, in a process and across
processes sharing the real Redis (two App instances, each with its own event loop, stand in
for two workers). Views are held at a gate until the followers are seen waiting, so every
test is about requests that were really concurrent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import chassis
import chassis_metrics
import optimizer_views
import pytest
from chassis_optimizer import get_optimizer
from chassis_test_support import eventually
from optimizer_support import AppMaker

Settings = Callable[..., dict[str, Any]]


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Settings:
    if request.param == "memory":
        return lambda **more: dict(more)
    url = request.getfixturevalue("redis_url")
    prefix = request.getfixturevalue("key_prefix")
    return lambda **more: {"cache_url": url, "cache_key_prefix": prefix, **more}


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(16) as executor:
        yield executor


def waiting(app: chassis.App) -> int:
    """Requests of ``app`` waiting for a concurrent request's entry (of ``app``, or of
    another app sharing Redis)."""
    optimizer = get_optimizer(app)
    assert optimizer is not None
    while True:
        try:
            return sum(fill.waiting for fill in list(optimizer.flights.active.values()))
        except RuntimeError:  # changed while read from this thread: read again
            continue


def held(view: str) -> optimizer_views.Gate:
    gate = optimizer_views.gates[view] = optimizer_views.Gate()
    return gate


def results(futures: list[Future[Any]]) -> list[Any]:
    return [future.result(10) for future in futures]


def kind(response: Any) -> str:
    value = response.headers.get("cache-status", "")
    return "hit" if "; hit" in value else "miss"


def test_a_burst_of_misses_runs_the_view_once(
    make_app: AppMaker, cache: Settings, pool: ThreadPoolExecutor
) -> None:
    app = make_app(cache(), plugins={"metrics": chassis_metrics})
    gate = held("slow_record")
    with app.test_client() as client:
        try:
            leader = pool.submit(client.get, "/slow-records/1")
            assert gate.entered.wait(5)
            followers = [pool.submit(client.get, "/slow-records/1") for _ in range(9)]
            assert eventually(lambda: waiting(app) == 9, step=0.005), "9 followers wait"
        finally:
            gate.release.set()
        responses = [leader.result(10), *results(followers)]
        metrics = client.get("/metrics").text

    assert optimizer_views.calls["slow_record"] == 1
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.content for r in responses}) == 1
    assert [kind(r) for r in responses] == ["miss"] + ["hit"] * 9
    assert waiting(app) == 0
    route = 'route="/slow-records/{record_id}"'
    assert f"chassis_optimizer_cache_coalesced_total{{{route}}} 9.0" in metrics
    assert f"chassis_optimizer_cache_hits_total{{{route}}} 9.0" in metrics
    assert f"chassis_optimizer_cache_misses_total{{{route}}} 1.0" in metrics


def test_a_failing_leader_lets_its_followers_run_the_view(
    make_app: AppMaker, cache: Settings, pool: ThreadPoolExecutor
) -> None:
    app = make_app(cache())
    gate = held("flaky_record")
    with app.test_client() as client:
        try:
            leader = pool.submit(client.get, "/flaky-records/1")
            assert gate.entered.wait(5)
            followers = [pool.submit(client.get, "/flaky-records/1") for _ in range(5)]
            assert eventually(lambda: waiting(app) == 5, step=0.005), "5 followers wait"
        finally:
            gate.release.set()
        failed = leader.result(10)
        answered = results(followers)
        later = client.get("/flaky-records/1")

    assert failed.status_code == 500
    assert "cache-status" not in failed.headers or kind(failed) == "miss"
    # Never served the leader's error: each follower ran the view itself.
    assert [r.status_code for r in answered] == [200] * 5
    assert optimizer_views.calls["flaky_record"] == 6
    assert (later.status_code, kind(later)) == (200, "hit")


def test_followers_stop_waiting_after_cache_fill_wait(
    make_app: AppMaker, cache: Settings, pool: ThreadPoolExecutor
) -> None:
    app = make_app(cache(cache_fill_wait=0.2))
    gate = held("slow_record")
    with app.test_client() as client:
        try:
            leader = pool.submit(client.get, "/slow-records/2")
            assert gate.entered.wait(5)
            started = time.monotonic()
            # The leader is still held: these finish on their own, after their wait.
            answered = [pool.submit(client.get, "/slow-records/2") for _ in range(3)]
            responses = results(answered)
            elapsed = time.monotonic() - started
            assert not leader.done()
        finally:
            gate.release.set()
        assert leader.result(10).status_code == 200

    assert [r.status_code for r in responses] == [200] * 3
    assert optimizer_views.calls["slow_record"] == 4
    assert 0.2 <= elapsed < 5


def test_workers_sharing_redis_run_the_view_once(
    make_app: AppMaker, redis_url: str, key_prefix: str, pool: ThreadPoolExecutor
) -> None:
    # A generous Redis time-out: on a busy machine a slow answer must not bypass the cache.
    settings = {"cache_url": redis_url, "cache_key_prefix": key_prefix, "cache_timeout": 5}
    first, second = make_app(settings), make_app(settings)
    gate = held("slow_record")
    with first.test_client() as one, second.test_client() as two:
        try:
            leader = pool.submit(one.get, "/slow-records/3")
            assert gate.entered.wait(5)  # worker one holds the fill lock
            local = [pool.submit(one.get, "/slow-records/3") for _ in range(3)]
            remote = [pool.submit(two.get, "/slow-records/3") for _ in range(6)]
            # Worker two's first request polls Redis; its other five wait for that one.
            assert eventually(
                lambda: waiting(first) == 3 and waiting(second) == 6, within=15, step=0.005
            ), "all wait"
        finally:
            gate.release.set()
        responses = [leader.result(10), *results(local), *results(remote)]

    assert optimizer_views.calls["slow_record"] == 1
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.content for r in responses}) == 1
    assert [kind(r) for r in responses].count("miss") == 1


def test_a_failing_leader_in_another_worker(
    make_app: AppMaker, redis_url: str, key_prefix: str, pool: ThreadPoolExecutor
) -> None:
    # A generous Redis time-out: on a busy machine a slow answer must not bypass the cache.
    settings = {"cache_url": redis_url, "cache_key_prefix": key_prefix, "cache_timeout": 5}
    first, second = make_app(settings), make_app(settings)
    gate = held("flaky_record")
    with first.test_client() as one, second.test_client() as two:
        try:
            leader = pool.submit(one.get, "/flaky-records/4")
            assert gate.entered.wait(5)
            remote = [pool.submit(two.get, "/flaky-records/4") for _ in range(4)]
            assert eventually(lambda: waiting(second) == 4, within=15, step=0.005), (
                "worker two waits for worker one"
            )
        finally:
            gate.release.set()
        failed = leader.result(10)
        responses = results(remote)

    assert failed.status_code == 500
    # The lock was released without an entry: worker two ran the view, once, for all four.
    assert [r.status_code for r in responses] == [200] * 4
    assert optimizer_views.calls["flaky_record"] == 2
    assert len({r.content for r in responses}) == 1


def test_coalescing_can_be_switched_off(
    make_app: AppMaker, cache: Settings, pool: ThreadPoolExecutor
) -> None:
    app = make_app(cache(cache_fill_wait=0))
    gate = held("slow_record")
    with app.test_client() as client:
        try:
            leader = pool.submit(client.get, "/slow-records/5")
            assert gate.entered.wait(5)
            others = results([pool.submit(client.get, "/slow-records/5") for _ in range(3)])
        finally:
            gate.release.set()
        assert leader.result(10).status_code == 200

    assert [r.status_code for r in others] == [200] * 3
    assert optimizer_views.calls["slow_record"] == 4
