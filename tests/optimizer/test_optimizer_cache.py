"""The server-side response cache in memory: hits skip the view, keys, privacy, expiry, bounds."""

from __future__ import annotations

import json
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import chassis_metrics
import optimizer_views
import pytest
from chassis_test_support import run_python
from optimizer_support import AppMaker
from prometheus_client.parser import text_string_to_metric_families

IDENTITY = {"Accept-Encoding": "identity"}


def test_a_hit_does_not_run_the_view(client: Any) -> None:
    first = client.get("/cached", headers=IDENTITY)
    second = client.get("/cached", headers={"Accept-Encoding": "gzip"})
    third = client.get("/cached", headers=IDENTITY)

    assert optimizer_views.calls["cached_items"] == 1
    assert first.json() == second.json() == third.json() == optimizer_views.ITEMS
    assert first.headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert third.headers["cache-status"].startswith("chassis; hit; ttl=")
    assert int(third.headers["age"]) >= 0
    assert second.headers["content-encoding"] == "gzip"
    assert third.headers["etag"] == first.headers["etag"]
    assert third.headers["x-request-id"] != first.headers["x-request-id"]


def test_a_burst_of_misses_runs_the_view_once(make_app: AppMaker) -> None:
    with make_app().test_client() as client, ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.get("/slow"), range(6)))

    assert [r.status_code for r in responses] == [200] * 6
    assert all(r.json() == optimizer_views.ITEMS[:10] for r in responses)
    assert optimizer_views.calls["slow_items"] == 1
    statuses = sorted(r.headers["cache-status"].split(";")[1].strip() for r in responses)
    assert statuses == ["fwd=uri-miss", "hit", "hit", "hit", "hit", "hit"]


def test_waiting_for_a_filler_can_be_switched_off(make_app: AppMaker) -> None:
    with make_app({"cache_fill_wait": 0}).test_client() as client, ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: client.get("/slow"), range(3)))

    assert [r.status_code for r in responses] == [200] * 3
    assert optimizer_views.calls["slow_items"] == 3


def test_routes_that_do_not_opt_in_are_not_cached(client: Any) -> None:
    client.get("/items")
    client.get("/items")

    assert optimizer_views.calls["list_items"] == 2
    assert "cache-status" not in client.get("/items").headers


def test_spec_extension_opts_in_and_out(client: Any) -> None:
    client.get("/spec-cached")
    client.get("/spec-cached")
    client.get("/spec-uncached")
    client.get("/spec-uncached")

    assert optimizer_views.calls["spec_cached"] == 1
    # x-chassis-cache: false wins over the handler's @set_cache_timeout(60).
    assert optimizer_views.calls["spec_uncached"] == 2


def test_cache_on_globally_with_opt_out(make_app: AppMaker) -> None:
    with make_app({"cache_all": True, "cache_ttl": 120}).test_client() as client:
        client.get("/items")
        items = client.get("/items")
        client.get("/never-cached")
        client.get("/never-cached")
        client.post("/items", json={})
        client.post("/items", json={})

    assert optimizer_views.calls["list_items"] == 1
    assert items.headers["cache-control"] == "public, max-age=120"
    assert optimizer_views.calls["never_cached"] == 2
    assert optimizer_views.calls["post_items"] == 2


def test_cache_can_be_switched_off_for_every_route(make_app: AppMaker) -> None:
    with make_app({"cache_enabled": False}).test_client() as client:
        client.get("/cached")
        response = client.get("/cached")
        client.get("/spec-cached")
        client.get("/spec-cached")

    assert optimizer_views.calls["cached_items"] == 2
    assert optimizer_views.calls["spec_cached"] == 2
    assert "cache-status" not in response.headers
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["etag"]


def test_key_normalizes_the_query(client: Any) -> None:
    client.get("/spec-cached?page=1&tag=a&tag=b")
    client.get("/spec-cached?tag=a&page=1&tag=b")
    client.get("/spec-cached?tag=a&tag=b&page=%31")
    assert optimizer_views.calls["spec_cached"] == 1

    client.get("/spec-cached?tag=b&tag=a&page=1")  # repeated values keep their order
    client.get("/spec-cached?page=2&tag=a&tag=b")
    client.get("/spec-cached")
    assert optimizer_views.calls["spec_cached"] == 4


def test_key_covers_host_and_scheme(client: Any) -> None:
    # Bodies may carry absolute URLs (pagination links): another host is another entry.
    client.get("/spec-cached", headers={"Host": "a.example"})
    client.get("/spec-cached", headers={"Host": "a.example"})
    client.get("/spec-cached", headers={"Host": "b.example"})
    client.get("https://b.example/spec-cached")
    assert optimizer_views.calls["spec_cached"] == 3


def test_credentialed_responses_are_never_shared(client: Any) -> None:
    alice = client.get("/whoami", headers={"Authorization": "Bearer alice"})
    bob = client.get("/whoami", headers={"Authorization": "Bearer bob"})
    anonymous = client.get("/whoami")
    cookie = client.get("/whoami", headers={"Cookie": "session=alice"})

    assert alice.json()[0]["user"] == "Bearer alice"
    assert bob.json()[0]["user"] == "Bearer bob"
    assert anonymous.json()[0]["user"] == "anonymous"
    assert cookie.json()[0]["user"] == "anonymous"
    assert optimizer_views.calls["whoami"] == 4

    # The same credentials again: served from the cache, to the same caller only.
    again = client.get("/whoami", headers={"Authorization": "Bearer alice"})
    assert again.json()[0]["user"] == "Bearer alice"
    assert again.headers["cache-status"].startswith("chassis; hit")
    assert again.headers["cache-control"] == "private, max-age=60"
    assert client.get("/whoami").json()[0]["user"] == "anonymous"
    assert optimizer_views.calls["whoami"] == 4


def test_a_shared_route_serves_everyone_one_entry(client: Any) -> None:
    client.get("/shared", headers={"Authorization": "Bearer alice"})
    client.get("/shared", headers={"Authorization": "Bearer bob"})
    client.get("/shared")

    assert optimizer_views.calls["shared_items"] == 1


def test_security_runs_before_the_cache(client: Any) -> None:
    assert client.get("/secured", headers={"X-API-Key": "key-alice"}).status_code == 200
    assert (
        client.get("/secured", headers={"X-API-Key": "key-alice"})
        .headers["cache-status"]
        .startswith("chassis; hit")
    )
    assert optimizer_views.calls["secured"] == 1

    assert client.get("/secured").status_code == 401
    assert client.get("/secured", headers={"X-API-Key": "bad"}).status_code == 401
    # Another key is another caller: the apiKey header is part of the key.
    bob = client.get("/secured", headers={"X-API-Key": "key-bob"})
    assert bob.status_code == 200
    assert bob.headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert optimizer_views.calls["secured"] == 2


def test_validation_runs_before_the_cache(client: Any) -> None:
    assert client.get("/spec-cached?page=1").status_code == 200
    assert client.get("/spec-cached?page=x").status_code == 400
    assert optimizer_views.calls["spec_cached"] == 1


def test_responses_with_set_cookie_are_not_stored(client: Any) -> None:
    client.get("/cookie")
    response = client.get("/cookie")

    assert optimizer_views.calls["with_cookie"] == 2
    assert response.headers["cache-status"] == "chassis; fwd=uri-miss"


def test_private_responses_are_kept_only_for_their_caller(client: Any) -> None:
    client.get("/private")
    anonymous = client.get("/private")
    client.get("/private", headers={"Authorization": "Bearer alice"})
    alice = client.get("/private", headers={"Authorization": "Bearer alice"})

    assert anonymous.headers["cache-status"] == "chassis; fwd=uri-miss"
    assert alice.headers["cache-status"].startswith("chassis; hit")
    assert alice.headers["cache-control"] == "private, max-age=5"  # the view's own wins
    assert optimizer_views.calls["private_items"] == 3


def test_key_covers_headers_the_response_varies_on(client: Any) -> None:
    english = client.get("/language", headers={"Accept-Language": "en"})
    french = client.get("/language", headers={"Accept-Language": "fr"})
    english_again = client.get("/language", headers={"Accept-Language": "en"})
    french_again = client.get("/language", headers={"Accept-Language": "fr"})

    assert english.json()[0]["language"] == english_again.json()[0]["language"] == "en"
    assert french.json()[0]["language"] == french_again.json()[0]["language"] == "fr"
    assert english_again.headers["cache-status"].startswith("chassis; hit")
    assert french_again.headers["cache-status"].startswith("chassis; hit")
    assert optimizer_views.calls["by_language"] == 2


def test_head_is_served_from_the_get_entry(client: Any) -> None:
    head = client.head("/cached")
    assert head.status_code == 200
    assert optimizer_views.calls["cached_items"] == 1  # a HEAD miss is not stored
    client.get("/cached")
    head = client.head("/cached")

    assert head.headers["cache-status"].startswith("chassis; hit")
    assert head.content == b""
    assert optimizer_views.calls["cached_items"] == 2


def test_entries_expire(client: Any) -> None:
    client.get("/short")
    hit = client.get("/short")
    time.sleep(1.1)
    expired = client.get("/short")

    assert hit.headers["cache-status"] == "chassis; hit; ttl=0"
    assert expired.headers["cache-status"] == "chassis; fwd=uri-miss; stored"
    assert optimizer_views.calls["short_lived"] == 2


def test_lru_is_bounded_in_entries(make_app: AppMaker) -> None:
    app = make_app({"cache_max_entries": 3})
    with app.test_client() as client:
        for page in range(1, 5):
            client.get(f"/spec-cached?page={page}")
        assert optimizer_views.calls["spec_cached"] == 4
        client.get("/spec-cached?page=4")
        client.get("/spec-cached?page=2")
        assert optimizer_views.calls["spec_cached"] == 4
        client.get("/spec-cached?page=1")  # the least recently used went first
        assert optimizer_views.calls["spec_cached"] == 5
        health = client.get("/readyz").json()["checks"]["response_cache"]
    assert health["entries"] == 3
    assert health["backend"] == "memory"


def test_lru_is_bounded_in_bytes(make_app: AppMaker) -> None:
    one_entry = len(json.dumps(optimizer_views.ITEMS, separators=(",", ":")))
    app = make_app({"cache_max_bytes": int(one_entry * 1.5)})
    with app.test_client() as client:
        client.get("/spec-cached?page=1")
        client.get("/spec-cached?page=2")
        client.get("/spec-cached?page=2")
        client.get("/spec-cached?page=1")
        health = client.get("/readyz").json()["checks"]["response_cache"]
    assert optimizer_views.calls["spec_cached"] == 3
    assert health["entries"] == 1
    assert health["bytes"] <= health["max_bytes"]


def test_large_responses_are_not_stored(make_app: AppMaker) -> None:
    with make_app({"cache_max_entry_bytes": 1000}).test_client() as client:
        client.get("/cached")
        response = client.get("/cached")

    assert optimizer_views.calls["cached_items"] == 2
    assert response.headers["cache-status"] == "chassis; fwd=uri-miss"


def test_cache_status_header_can_be_switched_off(make_app: AppMaker) -> None:
    with make_app({"cache_status_header": False}).test_client() as client:
        client.get("/cached")
        response = client.get("/cached")

    assert "cache-status" not in response.headers
    assert optimizer_views.calls["cached_items"] == 1


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_hits_misses_and_evictions_are_counted(make_app: AppMaker) -> None:
    app = make_app({"cache_max_entries": 1}, plugins={"metrics": chassis_metrics})
    with app.test_client() as client:
        client.get("/cached")
        client.get("/cached")
        client.get("/cached")
        client.get("/spec-cached")  # evicts /cached
        client.get("/items", headers={"Accept-Encoding": "gzip"})
        metrics = _samples(client.get("/metrics").text)

    assert metrics[("chassis_optimizer_cache_hits_total", (("route", "/cached"),))] == 2
    assert metrics[("chassis_optimizer_cache_misses_total", (("route", "/cached"),))] == 1
    assert metrics[("chassis_optimizer_cache_misses_total", (("route", "/spec-cached"),))] == 1
    assert metrics[("chassis_optimizer_cache_evictions_total", ())] == 1
    assert metrics[("chassis_optimizer_compressed_responses_total", (("encoding", "gzip"),))] >= 1


def test_without_metrics_prometheus_is_never_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, "tests/optimizer")
        import chassis, chassis_optimizer
        app = chassis.App("t", settings={"plugins": []}, plugins=[chassis_optimizer])
        app.add_api("tests/optimizer/optimizer_spec.yaml")
        with app.test_client() as client:
            assert client.get("/cached").status_code == 200
            assert client.get("/cached").status_code == 200
        print(sorted(m for m in sys.modules if m.startswith("prometheus")))
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"ttl": "soon"}, "x-chassis-cache of GET /items.ttl must be a whole number"),
        ({"tll": 5}, "unknown key(s) tll"),
        ("yes", "must be true, false, a number of seconds or a mapping"),
        ({"shared": "no"}, "shared must be true or false"),
    ],
)
def test_invalid_spec_extension_stops_start_up(
    make_chassis_app: Any, extension: Any, message: str
) -> None:
    import chassis_optimizer

    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/items": {
                "get": {
                    "operationId": "optimizer_views.list_items",
                    "x-chassis-cache": extension,
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    app = make_chassis_app(spec=spec, plugins={"optimizer": chassis_optimizer})
    pattern = message.replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=pattern), app.test_client():
        pass
