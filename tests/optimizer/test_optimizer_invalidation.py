"""Invalidation: ``invalidate``/``ainvalidate`` and ``cache_invalidate_writes``, in memory and
on the real Redis (two App instances sharing it, as two workers do)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import optimizer_views
import pytest
from chassis_optimizer import ainvalidate, invalidate
from optimizer_support import AppMaker, Settings, status


def test_invalidating_a_path_from_a_view(make_app: AppMaker, cache: Settings) -> None:
    with make_app(cache()).test_client() as client:
        variants = [
            lambda: client.get("/records/1"),
            lambda: client.get("/records/1?fields=name"),
            lambda: client.get("/records/1", headers={"Host": "other.example"}),
            lambda: client.get("/records/1", headers={"Authorization": "Bearer alice"}),
        ]
        assert [status(get()) for get in variants] == ["stored"] * 4
        client.get("/records")
        client.get("/records/1/notes")

        # Writes do not invalidate by themselves: the old record is still served.
        client.put("/records/1", json={"name": "renamed"})
        stale = client.get("/records/1")
        assert (status(stale), stale.json()["name"]) == ("hit", "record 1")

        written = client.put("/records/1?invalidate=path", json={"name": "renamed again"})
        assert written.status_code == 200
        fresh = [get() for get in variants]
        assert [status(response) for response in fresh] == ["stored"] * 4
        assert [response.json()["name"] for response in fresh] == ["renamed again"] * 4
        assert status(client.get("/records/1")) == "hit"
        # Only that path: the collection and the path under it keep their entries.
        assert status(client.get("/records")) == "hit"
        assert status(client.get("/records/1/notes")) == "hit"
    assert optimizer_views.calls["get_record"] == 8


def test_invalidating_a_prefix(make_app: AppMaker, cache: Settings) -> None:
    app = make_app(cache())
    paths = ["/records", "/records?page=2", "/records/1", "/records/2/notes"]
    with app.test_client() as client:
        assert [status(client.get(path)) for path in paths] == ["stored"] * 4
        client.get("/cached")

        optimizer_views.RECORDS[2]["name"] = "changed"
        # From the test's thread, as a Flask view's thread would: handed to the server's loop.
        assert invalidate(app, prefix="/records") is True

        again = [client.get(path) for path in paths]
        assert [status(response) for response in again] == ["stored"] * 4
        assert again[0].json()[1]["name"] == "changed"
        assert status(client.get("/cached")) == "hit"

        assert invalidate(app, prefix="/") is True
        assert status(client.get("/cached")) == "stored"
        assert status(client.get("/records/1")) == "stored"


def test_prefixes_cover_whole_segments() -> None:
    from chassis_optimizer._paths import ancestors, covers, parent, prefix_of

    assert covers(prefix_of("/records"), "/records/1/notes")
    assert covers(prefix_of("/records/"), "/records")
    assert not covers(prefix_of("/records"), "/recordsx")
    assert covers(prefix_of("/"), "/anything")
    assert ancestors("/records/1/") == ("", "/records", "/records/1")
    assert ancestors("/a//b") == ("", "/a", "/a//b")
    assert all(covers(prefix, "/a//b") for prefix in ancestors("/a//b"))
    deep = "/x" * 40
    assert len(ancestors(deep)) == 33
    assert covers(prefix_of(deep), deep)  # clamped to an ancestor: covers more, never less
    assert (parent("/records/7"), parent("/records"), parent("/records/")) == (
        "/records",
        "/",
        "/",
    )


def test_ainvalidate_on_the_loop_and_from_another(make_app: AppMaker, cache: Settings) -> None:
    app = make_app(cache())
    with app.test_client() as client:
        client.get("/records/1")
        client.get("/records/2")
        # On the server's loop (a coroutine of the app)...
        assert client.portal.call(ainvalidate, app, "/records/1") is True
        assert status(client.get("/records/1")) == "stored"
        # ...and from a loop of another thread, handed over to the server's loop.
        target = app.flask_app or app  # flask.current_app in a Flask view
        assert asyncio.run(ainvalidate(target, ["/records/1", "/records/2"])) is True
        assert status(client.get("/records/1")) == "stored"
        assert status(client.get("/records/2")) == "stored"


def test_invalidate_refuses_to_block_the_loop(make_app: AppMaker) -> None:
    app = make_app()

    async def blocking() -> bool:
        return invalidate(app, "/records/1")

    with app.test_client() as client, pytest.raises(RuntimeError, match="ainvalidate"):
        client.portal.call(blocking)


def test_invalid_arguments(make_app: AppMaker) -> None:
    app = make_app()
    with pytest.raises(TypeError, match="path or a prefix"):
        invalidate(app)
    with pytest.raises(ValueError, match="starting with '/'"):
        invalidate(app, "records/1")
    with pytest.raises(ValueError, match="prefix must be"):
        invalidate(app, prefix=["/records", 7])  # type: ignore[list-item]


def test_nothing_to_invalidate_without_the_plugin_or_the_cache(make_app: AppMaker) -> None:
    assert invalidate(object(), "/records/1") is True
    app = make_app({"cache_enabled": False, "cache_url": "redis://127.0.0.1:1/0"})
    with app.test_client() as client:
        assert invalidate(app, "/records/1") is True  # never asks the (absent) Redis
        assert client.put("/records/1?invalidate=path", json={}).status_code == 200


def test_invalidation_without_a_lifespan(make_app: AppMaker, cache: Settings) -> None:
    """A test client used without ``with`` runs each request on a loop of its own."""
    client = make_app(cache()).test_client()
    assert status(client.get("/records/1")) == "stored"
    assert status(client.get("/records/1")) == "hit"
    client.put("/records/1?invalidate=path", json={"name": "renamed"})
    fresh = client.get("/records/1")
    assert (status(fresh), fresh.json()["name"]) == ("stored", "renamed")


def test_a_view_running_during_the_write_does_not_store_what_it_read(
    make_app: AppMaker, cache: Settings
) -> None:
    """A read that started before a write and ends after its invalidation must not leave
    the old data in the cache; a request arriving after the invalidation does not wait for
    that read."""
    app = make_app(cache())
    gate = optimizer_views.gates["get_record"] = optimizer_views.Gate()
    with app.test_client() as client, ThreadPoolExecutor(1) as pool:
        try:
            before = pool.submit(client.get, "/records/1")
            assert gate.entered.wait(5)  # the old record is read; the view is held
            optimizer_views.RECORDS[1]["name"] = "written"
            assert invalidate(app, "/records/1")
            after = client.get("/records/1")  # does not join the held request
            assert after.json()["name"] == "written"
        finally:
            gate.release.set()
        assert before.result(5).json()["name"] == "record 1"  # it began before the write
        latest = client.get("/records/1")
    assert (status(latest), latest.json()["name"]) == ("hit", "written")


def test_two_workers_sharing_redis(make_app: AppMaker, redis_url: str, key_prefix: str) -> None:
    import redis

    settings = {"cache_url": redis_url, "cache_key_prefix": key_prefix}
    first, second = make_app(settings), make_app(settings)
    with first.test_client() as one, second.test_client() as two:
        assert status(one.get("/records/1")) == "stored"
        assert status(two.get("/records/1")) == "hit"
        assert status(two.get("/records")) == "stored"

        one.put("/records/1?invalidate=collection", json={"name": "by worker one"})

        fresh = two.get("/records/1")
        assert (status(fresh), fresh.json()["name"]) == ("stored", "by worker one")
        assert status(two.get("/records")) == "stored"
        assert status(one.get("/records/1")) == "hit"

    admin = redis.Redis.from_url(redis_url)
    try:
        generations = admin.keys(key_prefix + "inv:*")
        entries = [key for key in admin.keys(key_prefix + "*") if b"inv:" not in key]
        assert len(generations) == 2  # /records/1 (path) and /records (prefix)
        # A generation outlives every entry of the one before it.
        assert min(admin.pttl(key) for key in generations) > 86_400_000
        assert max(admin.pttl(key) for key in entries) <= 60_000
    finally:
        admin.close()


def test_redis_down_invalidation_reports_failure(
    make_app: AppMaker, caplog: pytest.LogCaptureFixture
) -> None:
    from optimizer_support import free_port

    app = make_app({"cache_url": f"redis://127.0.0.1:{free_port()}/0"})
    with app.test_client() as client:
        written = client.put("/records/1?invalidate=path", json={"name": "x"})
        assert invalidate(app, prefix="/records") is False
    assert written.status_code == 200  # the write itself never fails
    assert any("invalidation of /records* failed" in r.getMessage() for r in caplog.records)


# -- cache_invalidate_writes ---------------------------------------------------------------


def test_successful_writes_invalidate_their_path_and_collection(
    make_app: AppMaker, cache: Settings
) -> None:
    with make_app(cache(cache_invalidate_writes=True)).test_client() as client:
        paths = ["/records", "/records?page=2", "/records/1", "/records/1/notes", "/records/2"]
        assert [status(client.get(path)) for path in paths] == ["stored"] * 5

        assert client.put("/records/1", json={"name": "one"}).status_code == 200
        after = {path: client.get(path) for path in paths}
        assert {path: status(r) for path, r in after.items()} == {
            "/records": "stored",  # the parent collection
            "/records?page=2": "stored",
            "/records/1": "stored",  # the path
            "/records/1/notes": "stored",  # under the path
            "/records/2": "hit",  # a sibling
        }
        assert after["/records/1"].json()["name"] == "one"

        assert client.put("/records/99", json={"name": "none"}).status_code == 404
        assert status(client.get("/records")) == "hit"  # a failed write changes nothing

        assert client.post("/records", json={"name": "four"}).status_code == 201
        listed = client.get("/records")
        assert (status(listed), len(listed.json())) == ("stored", 4)

        assert client.delete("/records/2").status_code == 204
        assert client.get("/records/2").status_code == 404
        assert len(client.get("/records").json()) == 3


def test_writes_invalidate_across_workers(
    make_app: AppMaker, redis_url: str, key_prefix: str
) -> None:
    settings = {
        "cache_url": redis_url,
        "cache_key_prefix": key_prefix,
        "cache_invalidate_writes": True,
    }
    first, second = make_app(settings), make_app(settings)
    with first.test_client() as one, second.test_client() as two:
        one.get("/records/3")
        assert status(two.get("/records/3")) == "hit"
        two.put("/records/3", json={"name": "three"})
        fresh = one.get("/records/3")
    assert (status(fresh), fresh.json()["name"]) == ("stored", "three")


def test_concurrent_invalidations_from_view_threads(make_app: AppMaker, cache: Settings) -> None:
    app = make_app(cache())
    with app.test_client() as client, ThreadPoolExecutor(8) as pool:
        for number in (1, 2, 3):
            client.get(f"/records/{number}")
        results = list(
            pool.map(
                lambda n: client.put(f"/records/{n % 3 + 1}?invalidate=path", json={"v": n}),
                range(24),
            )
        )
        assert [r.status_code for r in results] == [200] * 24
        assert all(status(client.get(f"/records/{n}")) == "stored" for n in (1, 2, 3))
