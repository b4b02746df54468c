"""Invalidation as deployments run it: under a root path (uvicorn ``--root-path``, a
path-prefix proxy), without a lifespan (uvicorn ``--lifespan off``) with concurrent requests,
from ``async def`` views (which chassis runs on an event loop of its own), after shutdown."""

from __future__ import annotations

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from chassis_optimizer import get_optimizer, invalidate
from chassis_optimizer._cache import Entry, MemoryCache
from optimizer_support import AppMaker, Settings, serving, status

# -- a root path ----------------------------------------------------------------------------


def test_invalidating_flask_request_path_under_a_root_path(
    make_app: AppMaker, cache: Settings
) -> None:
    """The cache matches paths relative to the app, as ``flask.request.path`` gives them:
    without the server's root path, with the API's base path."""
    with make_app(cache(), base_path="/api").test_client(root_path="/svc") as client:
        assert status(client.get("/svc/api/records/1")) == "stored"
        assert status(client.get("/svc/api/records/1/notes")) == "stored"
        assert status(client.get("/svc/api/records/1")) == "hit"

        # The view passes flask.request.path (/api/records/1).
        client.put("/svc/api/records/1?invalidate=path", json={"name": "renamed"})
        fresh = client.get("/svc/api/records/1")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "renamed")
        assert status(client.get("/svc/api/records/1/notes")) == "hit"

        # What a script passes: the same path.
        assert invalidate(client.app, prefix="/api/records") is True
        assert status(client.get("/svc/api/records/1/notes")) == "stored"


def test_writes_invalidate_under_a_root_path(make_app: AppMaker, cache: Settings) -> None:
    app = make_app(cache(cache_invalidate_writes=True))
    with app.test_client(root_path="/svc") as client:
        assert status(client.get("/svc/records")) == "stored"
        assert status(client.get("/svc/records/2")) == "stored"
        assert client.put("/svc/records/2", json={"name": "two"}).status_code == 200
        fresh = client.get("/svc/records/2")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "two")
        assert status(client.get("/svc/records")) == "stored"


def test_invalidating_behind_uvicorn_root_path(make_app: AppMaker) -> None:
    """uvicorn ``--root-path /svc`` (the proxy strips /svc; uvicorn puts it back in the ASGI
    path, Flask keeps it out of ``request.path``)."""
    app = make_app({"exclude_paths": ["/items"]})
    with serving(app, root_path="/svc") as base, httpx.Client(base_url=base) as http:
        assert status(http.get("/records/1")) == "stored"
        assert status(http.get("/records/1")) == "hit"
        written = http.put("/records/1?invalidate=path", json={"name": "renamed"})
        assert written.status_code == 200
        fresh = http.get("/records/1")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "renamed")
        # exclude_paths are relative to the app too.
        gzip = {"Accept-Encoding": "gzip"}
        assert "content-encoding" not in http.get("/items", headers=gzip).headers
        assert http.get("/cached", headers=gzip).headers["content-encoding"] == "gzip"


# -- no lifespan, concurrency --------------------------------------------------------------


def test_invalidations_racing_requests_without_a_lifespan(make_app: AppMaker) -> None:
    """uvicorn ``--lifespan off``: invalidations run in the views' threads (sync views) and on
    chassis's loop (async views) while the server's loop serves and stores entries. No
    request may fail, and every write's invalidation must succeed."""
    app = make_app({"cache_max_entries": 100_000})
    # A cache holding many paths (of other routes): an invalidation by prefix walks them.
    optimizer = get_optimizer(app)
    assert optimizer is not None and isinstance(optimizer.backend, MemoryCache)
    now = time.time()
    entry = Entry(200, (), b"{}", '"e"', now, now + 60)

    async def fill(backend: MemoryCache) -> None:
        for number in range(20_000):
            await backend.set(f"other:{number}", entry, f"/other/{number}")

    asyncio.run(fill(optimizer.backend))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: a race shows within a second
    errors: list[tuple[Any, ...]] = []
    written = 0
    try:
        with serving(app, lifespan="off") as base:
            stop = time.monotonic() + 3

            def read(start: int) -> None:
                with httpx.Client(base_url=base) as http:
                    number = start
                    while time.monotonic() < stop and not errors:
                        response = http.get(f"/records/{number}/notes")
                        number += 7
                        if response.status_code != 200:
                            errors.append(("GET", response.status_code, response.text[:200]))

            def write(asynchronous: bool) -> None:
                nonlocal written
                with httpx.Client(base_url=base) as http:
                    while time.monotonic() < stop and not errors:
                        if asynchronous:
                            response = http.patch("/records/1", json={"name": "x"})
                            done = response.status_code == 200 and response.json()["invalidated"]
                        else:
                            response = http.put("/records/1?invalidate=collection", json={})
                            done = response.status_code == 200
                        if not done:
                            errors.append(("write", response.status_code, response.text[:300]))
                        written += 1

            with ThreadPoolExecutor(8) as pool:
                futures = [pool.submit(read, index) for index in range(6)]
                futures += [pool.submit(write, flag) for flag in (False, True)]
                for future in futures:
                    future.result()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert written > 20


def test_ainvalidate_from_an_async_view(make_app: AppMaker, cache: Settings) -> None:
    """``await ainvalidate(...)`` in an ``async def`` view: with a lifespan (handed to the
    server's loop) and without one (done on chassis's loop)."""
    app = make_app(cache())
    with app.test_client() as client:
        assert status(client.get("/records/1")) == "stored"
        assert status(client.get("/records/2/notes")) == "stored"
        patched = client.patch("/records/1", json={"name": "patched"})
        assert (patched.status_code, patched.json()["invalidated"]) == (200, True)
        fresh = client.get("/records/1")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "patched")
        assert status(client.get("/records/2/notes")) == "stored"  # the prefix

    # No lifespan (uvicorn --lifespan off): a server of its own, done on chassis's loop.
    other = make_app(cache())
    with serving(other, lifespan="off") as base, httpx.Client(base_url=base) as http:
        assert status(http.get("/records/3")) == "stored"
        assert status(http.get("/records/3")) == "hit"
        patched = http.patch("/records/3", json={"name": "patched"})
        assert (patched.status_code, patched.json()["invalidated"]) == (200, True)
        fresh = http.get("/records/3")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "patched")


def test_a_failing_invalidation_does_not_fail_the_write(
    make_app: AppMaker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    optimizer = get_optimizer(app)
    assert optimizer is not None

    async def broken(paths: list[str], prefixes: list[str], keep: float) -> bool:
        raise KeyError("/records/1")

    monkeypatch.setattr(optimizer.backend, "invalidate", broken)
    with app.test_client() as client:
        written = client.put("/records/1?invalidate=path", json={"name": "x"})
        patched = client.patch("/records/1", json={"name": "y"})
        assert invalidate(app, "/records/1") is False
    assert written.status_code == 200
    assert (patched.status_code, patched.json()["invalidated"]) == (200, False)
    assert any("invalidation of /records/1 failed" in r.getMessage() for r in caplog.records)


# -- after shutdown ----------------------------------------------------------------------------


def test_redis_after_shutdown(redis_url: str, key_prefix: str) -> None:
    """A request still running on the server's loop after its shutdown bypasses the cache
    instead of opening a client nobody would close; invalidations still reach Redis; the
    next start-up uses the cache again."""
    import asyncio
    import uuid

    import redis
    from chassis_optimizer._cache import cache_key
    from chassis_optimizer._redis import RedisCache

    name = f"chassis-optimizer-test-{uuid.uuid4().hex[:12]}"
    cache = RedisCache(
        redis_url,
        key_prefix=key_prefix,
        client_name=name,
        timeout=1,
        retry_interval=5,
        warn_interval=60,
    )
    admin = redis.Redis.from_url(redis_url)
    base = cache_key(key_prefix, {"path": "/records/1"}, (), ())

    def connections() -> int:
        return sum(client.get("name") == name for client in admin.client_list())

    async def server() -> None:
        await cache.start()
        slot, _ = await cache.lookup(base, "/records/1")
        assert connections() == 1
        await cache.close()  # the shutdown
        assert connections() == 0
        assert await cache.lookup(base, "/records/1") == (slot, None)  # a late request
        assert connections() == 0
        assert await cache.invalidate(["/records/1"], [], 60) is True
        assert connections() == 0
        await cache.start()  # started again
        assert (await cache.lookup(base, "/records/1"))[0].suffix != slot.suffix
        assert connections() == 1
        await cache.close()

    try:
        asyncio.run(server())
    finally:
        admin.close()
