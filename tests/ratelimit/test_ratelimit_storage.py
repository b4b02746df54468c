"""Redis: shared by every worker, unreachable (fail open or closed), back (recovery), readiness,
metrics, connections closed at shutdown."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import chassis_metrics
import pytest
import ratelimit_views
from chassis_test_support import free_port
from ratelimit_support import AppMaker

REDIS = ("127.0.0.1", 6379)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text ``text``, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        if sample.split("{")[0] != name:
            continue
        if all(f'{key}="{val}"' in sample for key, val in labels.items()):
            return float(value)
    return 0.0


class Relay:
    """A TCP relay to the real Redis on a port of its own: nothing listens there until
    :meth:`start`, :meth:`cut` drops the listener and every connection."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(REDIS)
            with self._lock:
                self._sockets += [downstream, upstream]
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def relay(redis_url: str) -> Iterator[Relay]:
    made = Relay()
    yield made
    made.cut()


def test_workers_on_one_redis_share_the_count(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    settings = {"storage_url": redis_url, "key_prefix": key_prefix}
    worker_a, worker_b = make_app(settings), make_app(settings)
    with worker_a.test_client() as a, worker_b.test_client() as b:
        statuses = [a.get("/limited").status_code, b.get("/limited").status_code]
        statuses += [a.get("/limited").status_code, b.get("/limited").status_code]
    assert statuses == [200, 200, 200, 429]


def test_memory_counts_are_per_process(make_app: AppMaker) -> None:
    worker_a, worker_b = make_app(), make_app()
    with worker_a.test_client() as a, worker_b.test_client() as b:
        statuses = [a.get("/limited").status_code for _ in range(3)]
        statuses += [b.get("/limited").status_code for _ in range(3)]
    assert statuses == [200] * 6


def test_readiness_reports_redis(make_app: AppMaker, redis_url: str, key_prefix: str) -> None:
    with make_app({"storage_url": redis_url, "key_prefix": key_prefix}).test_client() as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["ratelimit"] == {
        "status": "up",
        "storage": "redis",
        "url": redis_url,
        "reachable": True,
        "errors": 0,
    }


def test_redis_unreachable_fails_open_by_default(
    make_app: AppMaker, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    app = make_app({"storage_url": url, "retry_interval": 60}, plugins={"metrics": chassis_metrics})
    caplog.set_level(logging.WARNING, logger="chassis.ratelimit")
    with app.test_client() as client:
        responses = [client.get("/limited") for _ in range(5)]
        ready = client.get("/readyz")
        metrics = client.get("/metrics").text

    assert [r.status_code for r in responses] == [200] * 5
    assert ratelimit_views.calls["limited"] == 5
    assert all("RateLimit" not in r.headers for r in responses)  # nothing known to tell
    assert ready.status_code == 200
    check = ready.json()["checks"]["ratelimit"]
    assert check["status"] == "up"
    assert check["degraded"] is True
    assert check["reachable"] is False
    assert check["fail_open"] is True
    assert "hunter2" not in ready.text
    assert (
        metric(metrics, "chassis_ratelimit_requests_total", route="/limited", outcome="unchecked")
        == 5
    )
    assert metric(metrics, "chassis_ratelimit_storage_errors_total") >= 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "chassis.ratelimit"]
    assert len(warnings) == 1, warnings
    assert "hunter2" not in warnings[0]


def test_redis_unreachable_fails_closed_when_configured(make_app: AppMaker) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app({"storage_url": url, "fail_open": False, "retry_interval": 5})
    with app.test_client() as client:
        refused = client.get("/limited", headers={"X-Request-ID": "closed-1"})
        unlimited = client.get("/open")
        ready = client.get("/readyz")

    assert refused.status_code == 503
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["request_id"] == "closed-1"
    assert refused.headers["Retry-After"] == "5"
    assert ratelimit_views.calls["limited"] == 0
    assert unlimited.status_code == 200  # operations without limits never ask the storage
    assert ready.status_code == 503
    assert ready.json()["checks"]["ratelimit"]["status"] == "down"


def test_redis_back_after_an_outage_limits_again_by_itself(
    make_app: AppMaker, relay: Relay, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # First a port with nothing listening, then the real Redis behind it.
    url = f"redis://127.0.0.1:{relay.port}/0"
    app = make_app({"storage_url": url, "key_prefix": key_prefix, "retry_interval": 0.2})
    caplog.set_level(logging.WARNING, logger="chassis.ratelimit")
    with app.test_client() as client:
        down = [client.get("/limited").status_code for _ in range(5)]
        assert client.get("/readyz").json()["checks"]["ratelimit"]["degraded"] is True

        relay.start()
        time.sleep(0.3)
        back = [client.get("/limited") for _ in range(4)]
        ready = client.get("/readyz").json()["checks"]["ratelimit"]

        relay.cut()  # lost mid-run
        lost = [client.get("/limited").status_code for _ in range(3)]
    assert down == [200] * 5
    assert [r.status_code for r in back] == [200, 200, 200, 429]
    assert back[0].headers["RateLimit"].startswith('"3-per-1m";r=2;')
    assert ready["reachable"] is True
    assert "degraded" not in ready
    assert lost == [200] * 3
    messages = [r.getMessage() for r in caplog.records if r.name == "chassis.ratelimit"]
    assert any("reachable again" in message for message in messages)


def test_metrics_count_allowed_and_refused_per_operation(
    make_app: AppMaker, storage: dict[str, Any]
) -> None:
    app = make_app(storage, plugins={"metrics": chassis_metrics})
    with app.test_client() as client:
        for _ in range(5):
            client.get("/limited")
        client.get("/text")
        client.get("/open")
        text = client.get("/metrics").text

    name = "chassis_ratelimit_requests_total"
    assert metric(text, name, method="GET", route="/limited", outcome="allowed") == 3
    assert metric(text, name, method="GET", route="/limited", outcome="refused") == 2
    assert metric(text, name, method="GET", route="/text", outcome="allowed") == 1
    assert 'route="/open"' not in "\n".join(
        line for line in text.splitlines() if line.startswith(name)
    )
    # The metrics plugin records the 429s the client received.
    assert 'status="429"' in text


def test_connections_are_named_and_closed_at_shutdown(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    import redis

    service = f"ratelimit-test-{uuid.uuid4().hex[:12]}"
    app = make_app(
        {"storage_url": redis_url, "key_prefix": key_prefix}, settings={"service_name": service}
    )
    admin = redis.Redis.from_url(redis_url)

    def connections() -> list[dict[str, Any]]:
        clients: list[dict[str, Any]] = admin.client_list()
        return [c for c in clients if c["name"] == f"chassis-ratelimit:{service}"]

    try:
        with app.test_client() as client:
            assert client.get("/limited").status_code == 200
            assert len(connections()) == 1
        deadline = time.monotonic() + 5
        while connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert connections() == []
    finally:
        admin.close()


def test_scripts_unknown_to_redis_are_loaded_again(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    """A restarted or flushed Redis has forgotten the scripts: they are loaded again, and the
    request is limited as usual (neither unchecked nor an error)."""
    import chassis_ratelimit

    app = make_app({"storage_url": redis_url, "key_prefix": key_prefix})
    with app.test_client() as client:
        first = client.get("/limited")
        batcher = chassis_ratelimit.get_limiter(app).store._clients.latest.batcher
        batcher.script.sha = "0" * 40  # a script Redis does not have, as after SCRIPT FLUSH
        second = client.get("/limited")
        ready = client.get("/readyz").json()["checks"]["ratelimit"]
    assert first.headers["RateLimit"].startswith('"3-per-1m";r=2;')
    assert second.status_code == 200
    assert second.headers["RateLimit"].startswith('"3-per-1m";r=1;')
    assert ready["errors"] == 0


def test_counts_in_redis_are_limits_own_moving_window(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    """The plugin's calls and the limits package's read and write the same window."""
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    library = MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=key_prefix))
    item = RateLimitItemPerSecond(3, 60)  # /limited: {limit: 3, per: 1m}
    ids = ("GET /limited", "ip:testclient")
    with make_app({"storage_url": redis_url, "key_prefix": key_prefix}).test_client() as client:
        assert client.get("/limited").status_code == 200
        assert library.get_window_stats(item, *ids).remaining == 2
        assert library.hit(item, *ids)  # the library takes one: one left for the app
        last = client.get("/limited")
        refused = client.get("/limited")
    assert last.status_code == 200
    assert last.headers["RateLimit"].startswith('"3-per-1m";r=0;')
    assert refused.status_code == 429
    assert library.get_window_stats(item, *ids).remaining == 0


def test_a_redis_that_never_answers_costs_one_time_out(make_app: AppMaker) -> None:
    """A black hole (connections accepted, nothing answered): the request waits
    storage_timeout once, then is served unchecked; later ones do not wait at all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        app = make_app(
            {
                "storage_url": f"redis://127.0.0.1:{port}/0",
                "storage_timeout": 0.3,
                "retry_interval": 30,
            }
        )
        with app.test_client() as client:
            started = time.monotonic()
            first = client.get("/limited")
            waited = time.monotonic() - started
            started = time.monotonic()
            later = [client.get("/limited").status_code for _ in range(3)]
            later_waited = time.monotonic() - started
    finally:
        listener.close()
    assert first.status_code == 200
    assert 0.25 <= waited < 2.0
    assert later == [200, 200, 200]
    assert later_waited < 0.25


def test_concurrent_requests_get_exactly_the_limit(
    make_app: AppMaker, storage: dict[str, Any]
) -> None:
    """40 requests at once from 8 threads (their Redis calls pipelined together): exactly
    the limit is served, each refusal is a 429."""
    from concurrent.futures import ThreadPoolExecutor

    app = make_app({**storage, "overrides": {"GET /open": "10/minute"}})
    with app.test_client() as client, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.get("/open"), range(40)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 10 + [429] * 30
    remaining = sorted(
        int(response.headers["RateLimit"].split(";r=")[1].split(";")[0])
        for response in responses
        if response.status_code == 200
    )
    assert remaining == list(range(10))  # each allowed request saw its own place
    assert ratelimit_views.calls["open"] == 10
