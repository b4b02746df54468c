"""Limits from the spec: allowed requests carry RateLimit fields, the next one gets a 429
problem+json with the request id, Retry-After and the policy; in memory and in Redis, on
both app classes."""

from __future__ import annotations

import re
from typing import Any

import ratelimit_views
from ratelimit_support import AppMaker

QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"


def test_a_limit_from_the_spec_refuses_the_request_past_it(
    make_app: AppMaker, storage: dict[str, Any]
) -> None:
    with make_app(storage).test_client() as client:
        allowed = [client.get("/limited") for _ in range(3)]
        refused = client.get("/limited", headers={"X-Request-ID": "req-429"})

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert allowed[0].headers["RateLimit-Policy"] == '"3-per-1m";q=3;w=60'
    remaining = [
        re.fullmatch(r'"3-per-1m";r=(\d+);t=(\d+)', r.headers["RateLimit"]) for r in allowed
    ]
    assert all(remaining), [r.headers["RateLimit"] for r in allowed]
    assert [int(match.group(1)) for match in remaining if match] == [2, 1, 0]
    assert all(55 <= int(match.group(2)) <= 60 for match in remaining if match)

    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert body["type"] == QUOTA_EXCEEDED
    assert body["violated-policies"] == ["3-per-1m"]
    assert body["request_id"] == "req-429" == refused.headers["X-Request-ID"]
    assert "3 requests per 60 s" in body["detail"]
    retry_after = int(refused.headers["Retry-After"])
    assert 55 <= retry_after <= 60
    assert refused.headers["RateLimit-Policy"] == '"3-per-1m";q=3;w=60'
    assert refused.headers["RateLimit"] == f'"3-per-1m";r=0;t={retry_after}'
    # The handler never ran for the refused request.
    assert ratelimit_views.calls["limited"] == 3


def test_every_limit_of_an_operation_applies(make_app: AppMaker, storage: dict[str, Any]) -> None:
    with make_app(storage).test_client() as client:
        first = client.get("/burst")
        second = client.get("/burst")
        third = client.get("/burst")

    assert first.headers["RateLimit-Policy"] == '"burst";q=2;w=10, "hourly";q=5;w=3600'
    assert re.fullmatch(r'"burst";r=1;t=\d+, "hourly";r=4;t=\d+', first.headers["RateLimit"])
    assert second.status_code == 200
    assert third.status_code == 429
    assert third.json()["violated-policies"] == ["burst"]
    assert 1 <= int(third.headers["Retry-After"]) <= 10


def test_the_limits_notation_is_accepted_in_the_spec(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        statuses = [client.get("/text").status_code for _ in range(3)]
        policy = client.get("/text").headers["RateLimit-Policy"]
    assert statuses == [200, 200, 429]
    assert policy == '"2-per-1m";q=2;w=60'


def test_operations_without_limits_are_untouched(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        responses = [client.get("/open") for _ in range(20)]
        opted_out = [client.get("/opted-out") for _ in range(20)]
    assert {response.status_code for response in responses + opted_out} == {200}
    assert all("RateLimit" not in response.headers for response in responses + opted_out)
    assert ratelimit_views.calls["open"] == 20


def test_the_header_fields_on_allowed_responses_can_be_switched_off(
    make_app: AppMaker, storage: dict[str, Any]
) -> None:
    with make_app({**storage, "headers": False}).test_client() as client:
        allowed = [client.get("/limited") for _ in range(3)]
        refused = client.get("/limited")
    assert all(
        "RateLimit" not in r.headers and "RateLimit-Policy" not in r.headers for r in allowed
    )
    assert refused.status_code == 429
    assert refused.headers["RateLimit"].startswith('"3-per-1m";r=0;t=')
    assert "Retry-After" in refused.headers


def test_a_refused_request_is_refused_before_its_body_is_validated(make_app: AppMaker) -> None:
    with make_app().test_client() as client:
        created = client.post("/items", json={"name": "a"})
        refused = client.post("/items", json={"no-name": True})
    assert created.status_code == 201
    assert refused.status_code == 429
    assert ratelimit_views.calls["create_item"] == 1


def test_each_operation_counts_on_its_own(make_app: AppMaker, storage: dict[str, Any]) -> None:
    with make_app(storage).test_client() as client:
        limited = [client.get("/limited").status_code for _ in range(4)]
        text = client.get("/text")
    assert limited == [200, 200, 200, 429]
    assert text.status_code == 200


def test_the_problem_keeps_the_envelope_and_cors_exposes_the_fields(make_app: AppMaker) -> None:
    settings = {
        "envelope": {"enabled": True},
        "cors": {"enabled": True, "allow_origins": ["https://app.example"]},
    }
    with make_app(settings=settings).test_client() as client:
        headers = {"Origin": "https://app.example"}
        for _ in range(3):
            client.get("/limited", headers=headers)
        refused = client.get("/limited", headers=headers)
    assert refused.status_code == 429
    exposed = {
        name.strip().lower() for name in refused.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"ratelimit", "ratelimit-policy", "retry-after"} <= exposed


def test_stack_shows_the_layer_after_security(make_app: AppMaker) -> None:
    app = make_app()
    layers = [(layer["name"], layer["slot"], layer["owner"]) for layer in app.stack()]
    assert ("RateLimitMiddleware", "authorized", "ratelimit") in layers
    names = [name for name, _, _ in layers]
    assert names.index("SecurityMiddleware") < names.index("RateLimitMiddleware")
    assert names.index("RateLimitMiddleware") < names.index("RequestValidationMiddleware")
