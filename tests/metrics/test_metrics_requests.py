"""Every response counted with its real status, by method and route template, bounded."""

from __future__ import annotations

import random
import string
import threading
from typing import Any

import chassis
import metrics_support as support
import pytest
from metrics_support import PLUGINS, SPEC, parse, scrape, series, value

REQUESTS = "http_requests_total"
DURATION_COUNT = "http_request_duration_seconds_count"


@pytest.fixture
def app(make_chassis_app: Any) -> chassis.App:
    return make_chassis_app(spec=SPEC, plugins=PLUGINS)


def test_metrics_every_status_lands_under_its_own_label(app: chassis.App) -> None:
    with app.test_client() as client:
        expected = {
            200: client.get("/items/7"),
            201: client.post("/items", json={"name": "x"}),
            400: client.get("/items", params={"limit": "many"}),
            401: client.get("/secure", headers={"Authorization": "Bearer wrong"}),
            403: client.get("/admin", headers={"Authorization": "Bearer reader"}),
            404: client.get("/no/such/route"),
            405: client.delete("/items/7"),
            500: client.get("/boom"),
        }
        assert {status: r.status_code for status, r in expected.items()} == {s: s for s in expected}
        client.post("/items", json={"nope": 1})  # a second 400: request body validation
        client.get("/forbidden")  # a second 403: raised by the handler
        samples = scrape(client)

    counts = {
        (labels["method"], labels["route"], labels["status"]): found
        for labels, found in samples[REQUESTS]
    }
    assert counts == {
        ("GET", "/items/{item_id}", "200"): 1,
        ("POST", "/items", "201"): 1,
        ("GET", "/items", "400"): 1,
        ("POST", "/items", "400"): 1,
        ("GET", "/secure", "401"): 1,
        ("GET", "/admin", "403"): 1,
        ("GET", "/forbidden", "403"): 1,
        ("GET", "<unmatched>", "404"): 1,
        ("DELETE", "<unmatched>", "405"): 1,
        ("GET", "/boom", "500"): 1,
    }
    # The histogram has the same series, each observed once.
    durations = {
        (labels["method"], labels["route"], labels["status"]): found
        for labels, found in samples[DURATION_COUNT]
    }
    assert durations == counts


def test_metrics_route_label_is_the_template_with_the_base_path(
    make_chassis_app: Any,
) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS, api_options={"base_path": "/v1"})
    with app.test_client() as client:
        assert client.get("/v1/items/3").status_code == 200
        samples = scrape(client)
    assert value(samples, REQUESTS, route="/v1/items/{item_id}", status="200") == 1


def test_metrics_thousand_ids_make_one_series(app: chassis.App) -> None:
    with app.test_client() as client:
        for item_id in range(1000):
            assert client.get(f"/items/{item_id}").status_code == 200
        samples = scrape(client)
    assert series(samples, REQUESTS) == [
        {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    ]
    assert value(samples, REQUESTS) == 1000
    assert value(samples, DURATION_COUNT) == 1000
    buckets = series(samples, "http_request_duration_seconds_bucket")
    assert len(buckets) == len(chassis_metrics_buckets()) + 1  # one series per bound, +Inf


def chassis_metrics_buckets() -> list[float]:
    import chassis_metrics

    return list(chassis_metrics.DEFAULT_BUCKETS)


def test_metrics_bad_input_never_adds_series_and_never_errors(app: chassis.App) -> None:
    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@"
    with app.test_client() as client:
        client.get("/items/1")
        before = scrape(client)
        statuses = set()
        for _ in range(200):
            path = "/" + "/".join(
                "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
                for _ in range(rng.randint(1, 30))
            )
            statuses.add(client.get(path).status_code)
        statuses.add(client.get("/" + "a" * 20_000).status_code)
        statuses.add(client.get("/items/" + "9" * 4000).status_code)
        statuses.add(client.get("/%00%ff%fe/..%2f..%2fetc/passwd").status_code)
        for method in ("FOO", "PROPFIND", "BREW", "X" * 200, "get", "M-SEARCH"):
            statuses.add(client.request(method, "/items/1").status_code)
            statuses.add(client.request(method, f"/{rng.random()}").status_code)
        after = scrape(client)

    assert all(status < 500 for status in statuses), statuses
    labels = series(after, REQUESTS)
    routes = {item["route"] for item in labels}
    methods = {item["method"] for item in labels}
    assert routes <= {"/items/{item_id}", "<unmatched>"}
    assert methods <= {"GET", "other"}
    # A handful of series (one per method/status pair), not one per path or method sent.
    assert len(labels) <= 6, labels
    assert len(series(before, REQUESTS)) == 1
    in_progress = {item["method"] for item in series(after, "http_requests_in_progress")}
    assert "FOO" not in in_progress and "other" in in_progress


def test_metrics_endpoint_and_health_are_not_counted(app: chassis.App) -> None:
    with app.test_client() as client:
        for _ in range(3):
            client.get("/metrics")
            assert client.get("/healthz").status_code == 200
            assert client.get("/readyz").status_code == 200
            assert client.get("/startupz").status_code == 200
            assert client.get("/health/readiness").status_code == 200
            assert client.get("/info").status_code == 200
        samples = scrape(client)
    assert series(samples, REQUESTS) == []


def test_metrics_health_counted_when_not_excluded_and_exclusion_list(
    make_chassis_app: Any,
) -> None:
    app = make_chassis_app(
        spec=SPEC,
        plugins=PLUGINS,
        settings={"metrics": {"exclude_health": False, "exclude_paths": ["/items/1", "/ui/*"]}},
    )
    with app.test_client() as client:
        client.get("/healthz")
        client.get("/items/1")  # excluded exactly
        client.get("/items/2")  # counted
        client.get("/ui/")  # excluded by prefix
        client.get("/ui/swagger-ui.css")
        samples = scrape(client)
    counts = {(labels["route"], labels["status"]): found for labels, found in samples[REQUESTS]}
    assert counts == {("<unmatched>", "200"): 1, ("/items/{item_id}", "200"): 1}


def test_metrics_in_progress_gauge_counts_requests_being_served(app: chassis.App) -> None:
    support.entered.clear()
    support.release.clear()
    with app.test_client() as client:
        result: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: result.update(r=client.get("/slow")))
        worker.start()
        try:
            assert support.entered.wait(10)
            during = scrape(client)
        finally:
            support.release.set()
            worker.join(10)
        after = scrape(client)
    assert result["r"].status_code == 200
    assert value(during, "http_requests_in_progress", method="GET") == 1
    assert value(after, "http_requests_in_progress", method="GET") == 0
    assert value(after, REQUESTS, route="/slow") == 1


def test_metrics_unhandled_exception_is_counted_and_answered_problem_json(
    app: chassis.App,
) -> None:
    with app.test_client() as client:
        response = client.get("/boom")
        client.get("/forbidden")  # a handled exception (403): not an "exception"
        samples = scrape(client)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "kaboom" not in response.text
    assert series(samples, "http_request_exceptions_total") == [
        {"method": "GET", "route": "/boom", "exception": "RuntimeError"}
    ]
    assert value(samples, "http_request_exceptions_total") == 1


def test_metrics_custom_error_handler_still_counts_exceptions(make_chassis_app: Any) -> None:
    seen = []

    def handler(exc: Exception) -> tuple[dict[str, Any], int]:
        seen.append(exc)
        return {"title": "Oops", "detail": "custom"}, 503

    app = make_chassis_app(spec=SPEC, plugins=PLUGINS, use_default_handler=handler)
    with app.test_client() as client:
        response = client.get("/boom")
        samples = scrape(client)
    assert response.status_code == 503
    assert len(seen) == 1
    assert value(samples, "http_request_exceptions_total", route="/boom") == 1
    assert value(samples, REQUESTS, route="/boom", status="503") == 1


def test_metrics_durations_fall_into_configured_buckets(make_chassis_app: Any) -> None:
    app = make_chassis_app(spec=SPEC, plugins=PLUGINS, settings={"metrics": {"buckets": [0.5, 30]}})
    with app.test_client() as client:
        client.get("/items/1")
        samples = scrape(client)
    bounds = {
        labels["le"]: found for labels, found in samples["http_request_duration_seconds_bucket"]
    }
    assert bounds == {"0.5": 1, "30.0": 1, "+Inf": 1}
    seconds = value(samples, "http_request_duration_seconds_sum")
    assert 0 < seconds < 0.5


def test_metrics_requests_of_separate_apps_are_counted_separately(
    make_chassis_app: Any,
) -> None:
    first = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    second = make_chassis_app(spec=SPEC, plugins=PLUGINS)
    with first.test_client() as one, second.test_client() as two:
        one.get("/items/1")
        one.get("/items/2")
        two.get("/items/1")
        assert value(scrape(one), REQUESTS) == 2
        assert value(scrape(two), REQUESTS) == 1


def test_metrics_route_label_when_the_server_sends_no_extensions(app: chassis.App) -> None:
    """uvicorn puts no "extensions" in the scope (Starlette's test client does); the route
    template must still be found after Connexion's routing."""
    import asyncio

    import httpx

    async def run() -> str:
        transport = httpx.ASGITransport(app=app)  # its scopes have no "extensions" either
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            assert (await client.get("/items/5")).status_code == 200
            assert (await client.get("/secure")).status_code == 401
            return (await client.get("/metrics")).text

    samples = parse(asyncio.run(run()))
    assert series(samples, REQUESTS) == [
        {"method": "GET", "route": "/items/{item_id}", "status": "200"},
        {"method": "GET", "route": "/secure", "status": "401"},
    ]
