"""The Redis backend against the real Redis on 127.0.0.1:6379, and Redis down or lost."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import optimizer_views
import pytest
from optimizer_support import REDIS_HOST, REDIS_PORT, AppMaker, free_port

pytestmark = pytest.mark.redis


def redis_settings(url: str, prefix: str, **more: Any) -> dict[str, Any]:
    return {"cache_url": url, "cache_key_prefix": prefix, **more}


def test_two_app_instances_share_the_cache(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    first, second = (make_app(redis_settings(redis_url, key_prefix)) for _ in range(2))
    with first.test_client() as one, second.test_client() as two:
        stored = one.get("/cached", headers={"Accept-Encoding": "identity"})
        hit = two.get("/cached", headers={"Accept-Encoding": "gzip"})
        head = two.head("/cached", headers={"Accept-Encoding": "identity"})

    assert optimizer_views.calls["cached_items"] == 1
    assert stored.headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert hit.headers["cache-status"].startswith("chassis; hit")
    assert hit.headers["content-encoding"] == "gzip"
    assert hit.json() == stored.json() == optimizer_views.ITEMS
    assert hit.headers["etag"] == stored.headers["etag"][:-1] + '-gzip"'
    assert head.headers["etag"] == stored.headers["etag"]


def test_entries_expire_in_redis(make_app: AppMaker, redis_url: str, key_prefix: str) -> None:
    import redis

    first, second = (make_app(redis_settings(redis_url, key_prefix)) for _ in range(2))
    with first.test_client() as one, second.test_client() as two:
        one.get("/short")
        keys = redis.Redis.from_url(redis_url).keys(key_prefix + "*")
        assert len(keys) == 1
        assert 0 < redis.Redis.from_url(redis_url).pttl(keys[0]) <= 1000
        assert two.get("/short").headers["cache-status"].startswith("chassis; hit")
        time.sleep(1.1)
        assert two.get("/short").headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert optimizer_views.calls["short_lived"] == 2


def test_credentialed_entries_are_not_shared_across_instances(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    first, second = (make_app(redis_settings(redis_url, key_prefix)) for _ in range(2))
    with first.test_client() as one, second.test_client() as two:
        one.get("/whoami", headers={"Authorization": "Bearer alice"})
        bob = two.get("/whoami", headers={"Authorization": "Bearer bob"})
        anonymous = two.get("/whoami")
        alice = two.get("/whoami", headers={"Authorization": "Bearer alice"})

    assert bob.json()[0]["user"] == "Bearer bob"
    assert anonymous.json()[0]["user"] == "anonymous"
    assert alice.json()[0]["user"] == "Bearer alice"
    assert alice.headers["cache-status"].startswith("chassis; hit")
    assert optimizer_views.calls["whoami"] == 3


def test_keys_do_not_contain_credentials(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    import redis

    with make_app(redis_settings(redis_url, key_prefix)).test_client() as client:
        client.get("/whoami", headers={"Authorization": "Bearer s3cret-token"})
    client_redis = redis.Redis.from_url(redis_url)
    (key,) = client_redis.keys(key_prefix + "*")
    assert b"s3cret" not in key
    assert b"s3cret" in client_redis.get(key)  # the body echoes it; the key never does


def test_connections_are_named_and_closed_at_shutdown(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    import redis

    service = f"optimizer-test-{uuid.uuid4().hex[:12]}"
    app = make_app(redis_settings(redis_url, key_prefix), settings={"service_name": service})
    admin = redis.Redis.from_url(redis_url)

    def connections() -> list[dict[str, Any]]:
        clients: list[dict[str, Any]] = admin.client_list()
        return [c for c in clients if c["name"] == f"chassis-optimizer:{service}"]

    try:
        with app.test_client() as client:
            assert client.get("/cached").status_code == 200
            assert len(connections()) == 1
        deadline = time.monotonic() + 5  # Redis drops a closed connection on its next loop turn
        while connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert connections() == []
    finally:
        admin.close()


def test_readiness_reports_redis(make_app: AppMaker, redis_url: str, key_prefix: str) -> None:
    with make_app(redis_settings(redis_url, key_prefix)).test_client() as client:
        response = client.get("/readyz")

    assert response.status_code == 200
    check = response.json()["checks"]["response_cache"]
    assert check == {
        "status": "up",
        "backend": "redis",
        "url": redis_url,
        "reachable": True,
    }


def test_redis_down_still_answers(make_app: AppMaker, caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    app = make_app({"cache_url": url, "cache_key_prefix": "down:", "cache_retry_interval": 60})
    caplog.set_level(logging.WARNING, logger="chassis.optimizer")
    with app.test_client() as client:
        responses = [client.get("/cached") for _ in range(5)]
        ready = client.get("/readyz")

    assert [r.status_code for r in responses] == [200] * 5
    assert all(r.json() == optimizer_views.ITEMS for r in responses)
    assert optimizer_views.calls["cached_items"] == 5
    assert responses[-1].headers["cache-status"] == "chassis; fwd=bypass"
    warnings = [r for r in caplog.records if r.name == "chassis.optimizer"]
    assert len(warnings) == 1
    assert "hunter2" not in warnings[0].getMessage()
    assert ready.status_code == 200
    check = ready.json()["checks"]["response_cache"]
    assert check["status"] == "up"
    assert check["degraded"] is True
    assert check["reachable"] is False
    assert "hunter2" not in ready.text


def test_redis_required_fails_readiness(make_app: AppMaker) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with make_app({"cache_url": url, "cache_required": True}).test_client() as client:
        assert client.get("/cached").status_code == 200
        ready = client.get("/readyz")

    assert ready.status_code == 503
    assert ready.json()["checks"]["response_cache"]["status"] == "down"


class TcpProxy:
    """A TCP relay to the real Redis that can be cut and restored: Redis lost mid-run."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
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
            upstream = socket.create_connection((REDIS_HOST, REDIS_PORT))
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
            with contextlib.suppress(OSError):  # shutdown wakes the accepting thread up
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
def proxy(redis_url: str) -> Iterator[TcpProxy]:
    relay = TcpProxy(free_port())
    relay.start()
    yield relay
    relay.cut()


def test_redis_lost_mid_run_and_back(
    make_app: AppMaker, proxy: TcpProxy, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"redis://127.0.0.1:{proxy.port}/0"
    app = make_app(
        redis_settings(url, key_prefix, cache_retry_interval=0.3, cache_warn_interval=60)
    )
    caplog.set_level(logging.WARNING, logger="chassis.optimizer")
    with app.test_client() as client:
        client.get("/cached")
        assert client.get("/cached").headers["cache-status"].startswith("chassis; hit")
        assert optimizer_views.calls["cached_items"] == 1

        proxy.cut()
        lost = [client.get("/cached") for _ in range(4)]
        assert [r.status_code for r in lost] == [200] * 4
        assert all(r.json() == optimizer_views.ITEMS for r in lost)
        assert optimizer_views.calls["cached_items"] == 5
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["response_cache"]["degraded"] is True

        time.sleep(0.4)
        assert client.get("/cached").status_code == 200  # tried again, still down
        warnings = [r.getMessage() for r in caplog.records if r.name == "chassis.optimizer"]
        assert len(warnings) == 1, warnings

        proxy.start()
        time.sleep(0.4)
        back = client.get("/cached")
        assert back.headers["cache-status"].startswith("chassis; hit")
        assert client.get("/readyz").json()["checks"]["response_cache"]["reachable"] is True
    messages = [r.getMessage() for r in caplog.records if r.name == "chassis.optimizer"]
    assert "reachable again" in messages[-1]


def test_the_fill_lock_on_the_real_redis(redis_url: str, key_prefix: str) -> None:
    """The cross-worker lock: one holder, released only by its holder, and a claim made
    after another worker stored the entry returns that entry instead of the lock."""
    import asyncio

    from chassis_optimizer._cache import Entry
    from chassis_optimizer._redis import RedisCache

    async def scenario() -> None:
        cache = RedisCache(
            redis_url,
            key_prefix=key_prefix,
            client_name="optimizer-test",
            timeout=1,
            retry_interval=1,
            warn_interval=60,
        )
        try:
            slot, entry = await cache.lookup(key_prefix + "k", "/records/1")
            assert entry is None
            assert await cache.claim(slot, "one", 5) is True
            assert await cache.claim(slot, "two", 5) is False
            assert await cache.peek(slot) == (None, True)
            now = time.time()
            stored = Entry(
                200, ((b"content-type", b"application/json"),), b"{}", '"e"', now, now + 60
            )
            await cache.store(slot, stored)
            await cache.release(slot, "two")  # not its lock: still held
            assert await cache.peek(slot) == (stored, True)
            await cache.release(slot, "one")
            assert await cache.peek(slot) == (stored, False)
            assert await cache.claim(slot, "three", 5) == stored  # stored meanwhile
            assert await cache.peek(slot) == (stored, False)  # and no lock was taken
        finally:
            await cache.close()

    asyncio.run(scenario())
