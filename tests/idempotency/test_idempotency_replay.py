"""Replays, refusals and what is (not) stored, on both stores and both app classes."""

from __future__ import annotations

import logging
import time

import idempotency_views as views
import pytest
from idempotency_support import AppMaker, StoreSettings, key, same_response

PROBLEM = "application/problem+json"


def test_a_retry_gets_the_first_response_and_the_handler_runs_once(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        first = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        again = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        third = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
    assert first.status_code == 201
    assert first.json() == {"id": 1, "item": "a", "note": None}
    assert first.headers["location"] == "/orders/1"
    assert "idempotent-replayed" not in first.headers
    assert same_response(first, again) and same_response(first, third)
    assert again.headers["idempotent-replayed"] == "true"
    # The request id header is each request's own; the body is the stored one.
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert views.executions == {"create_order": 1}


def test_requests_without_a_key_or_with_another_key_run_the_handler(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        plain = [client.post("/orders", json={"item": "a"}).json()["id"] for _ in range(2)]
        one = client.post("/orders", json={"item": "a"}, headers=key("k-1")).json()["id"]
        two = client.post("/orders", json={"item": "a"}, headers=key("k-2")).json()["id"]
    assert plain == [1, 2]
    assert (one, two) == (3, 4)
    assert views.executions == {"create_order": 4}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/orders", {"item": "b"}),  # another body
        ("/orders?note=x", {"item": "a"}),  # another query
        ("/other-orders", {"item": "a"}),  # another path
    ],
)
def test_the_same_key_for_another_request_is_a_422(
    make_app: AppMaker, store: StoreSettings, path: str, body: dict[str, str]
) -> None:
    with make_app(store()).test_client() as client:
        assert client.post("/orders", json={"item": "a"}, headers=key("k-1")).status_code == 201
        reused = client.post(path, json=body, headers=key("k-1"))
        replay = client.post("/orders", json={"item": "a"}, headers=key("k-1"))
    assert reused.status_code == 422
    assert reused.headers["content-type"] == PROBLEM
    problem = reused.json()
    assert problem["title"] == "Idempotency-Key reused"
    assert problem["request_id"] == reused.headers["x-request-id"]
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert views.executions == {"create_order": 1}


def test_a_required_key_missing_is_a_400(make_app: AppMaker, store: StoreSettings) -> None:
    with make_app(store()).test_client() as client:
        missing = client.post("/required", json={"item": "a"})
        given = client.post("/required", json={"item": "a"}, headers=key("k-1"))
    assert missing.status_code == 400
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["invalid-params"] == [
        {"name": "Idempotency-Key", "in": "header", "reason": "is required"}
    ]
    assert given.status_code == 201
    assert views.executions == {"create_order": 1}


def test_the_required_setting_covers_every_operation(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store(required=True)).test_client() as client:
        assert client.post("/orders", json={"item": "a"}).status_code == 400
        assert client.post("/opted-out", json={"item": "a"}).status_code == 201
        assert client.get("/orders").status_code == 200


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "must not be empty"),
        ("x" * 256, "must be at most 255 characters long"),
        ("two words", "must be visible ASCII without spaces"),
        ('"open', "has no closing quote"),
        ("caf\u00e9", "must be ASCII"),
    ],
)
def test_an_invalid_key_is_a_400_naming_the_header(
    make_app: AppMaker, store: StoreSettings, value: str, reason: str
) -> None:
    with make_app(store()).test_client() as client:
        response = client.post(
            "/orders",
            json={"item": "a"},
            headers=[("Idempotency-Key", value.encode("utf-8"))],  # type: ignore[arg-type]
        )
    assert response.status_code == 400
    assert response.json()["title"] == "Invalid Idempotency-Key"
    [param] = response.json()["invalid-params"]
    assert param["name"] == "Idempotency-Key" and param["in"] == "header"
    assert param["reason"].startswith(reason)
    assert views.executions == {}


def test_a_key_given_twice_is_a_400(make_app: AppMaker, store: StoreSettings) -> None:
    with make_app(store()).test_client() as client:
        response = client.post(
            "/orders",
            json={"item": "a"},
            headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],  # type: ignore[arg-type]
        )
    assert response.status_code == 400
    assert response.json()["invalid-params"][0]["reason"] == "must be given once"


def test_the_draft_s_quoted_form_is_the_same_key_as_the_bare_one(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        quoted = client.post("/orders", json={"item": "a"}, headers=key('"8e03-a b"'))
        assert client.post("/orders", json={"item": "a"}, headers=key('"k\\"1"')).status_code == 201
        bare = client.post("/orders", json={"item": "a"}, headers=key('k"1'))
    assert quoted.status_code == 201
    assert bare.headers["idempotent-replayed"] == "true"
    assert views.executions == {"create_order": 2}


def test_a_server_error_is_not_stored_and_a_retry_runs_again(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        failed = client.post("/orders", json={"item": "a", "status": 503}, headers=key("k-1"))
        retried = client.post("/orders", json={"item": "a", "status": 503}, headers=key("k-1"))
    assert failed.status_code == retried.status_code == 503
    assert "idempotent-replayed" not in retried.headers
    assert views.executions == {"create_order": 2}


def test_an_exception_s_500_releases_the_key(make_app: AppMaker, store: StoreSettings) -> None:
    with make_app(store()).test_client(raise_server_exceptions=False) as client:
        failed = client.post("/orders", json={"item": "a", "explode": True}, headers=key("k-1"))
        again = client.post("/orders", json={"item": "a", "explode": True}, headers=key("k-1"))
    assert failed.status_code == again.status_code == 500
    assert views.executions == {"create_order": 2}


def test_a_problem_raised_by_the_handler_is_stored_and_replayed(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        first = client.post("/missing", json={}, headers=key("k-1"))
        again = client.post("/missing", json={}, headers=key("k-1"))
    assert first.status_code == 404
    assert first.headers["content-type"] == PROBLEM
    assert same_response(first, again)
    assert again.headers["idempotent-replayed"] == "true"
    assert views.executions == {"missing_order": 1}


def test_a_request_refused_by_validation_takes_no_key(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        refused = client.post("/orders", json={"item": 7}, headers=key("k-1"))
        corrected = client.post("/orders", json={"item": "7"}, headers=key("k-1"))
    assert refused.status_code == 400
    assert corrected.status_code == 201
    assert views.executions == {"create_order": 1}


def test_a_response_over_the_size_limit_is_sent_but_not_stored(
    make_app: AppMaker, store: StoreSettings, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(store(max_response_bytes=1000))
    with caplog.at_level(logging.WARNING, "chassis.idempotency"), app.test_client() as client:
        client.post("/orders", json={"item": "a", "size": 10}, headers=key("small"))
        small_again = client.post("/orders", json={"item": "a", "size": 10}, headers=key("small"))
        big = client.post("/orders", json={"item": "a", "size": 5000}, headers=key("big"))
        big_again = client.post("/orders", json={"item": "a", "size": 5000}, headers=key("big"))
    assert small_again.headers["idempotent-replayed"] == "true"
    assert big.status_code == big_again.status_code == 201
    assert len(big.json()["padding"]) == 5000
    assert "idempotent-replayed" not in big_again.headers
    assert big_again.json()["id"] == big.json()["id"] + 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "chassis.idempotency"]
    assert len(warnings) == 1 and "/orders is larger than max_response_bytes (1000)" in warnings[0]


def test_a_stored_response_expires_after_its_ttl(make_app: AppMaker, store: StoreSettings) -> None:
    # /required keeps responses for 1 s (x-chassis-idempotency: {ttl: 1s}).
    with make_app(store()).test_client() as client:
        first = client.post("/required", json={"item": "a"}, headers=key("k-1"))
        kept = client.post("/required", json={"item": "a"}, headers=key("k-1"))
        time.sleep(1.2)
        expired = client.post("/required", json={"item": "a"}, headers=key("k-1"))
    assert kept.headers["idempotent-replayed"] == "true"
    assert expired.json()["id"] == first.json()["id"] + 1
    assert "idempotent-replayed" not in expired.headers


def test_operations_opt_out_and_other_methods_opt_in(
    make_app: AppMaker, store: StoreSettings
) -> None:
    with make_app(store()).test_client() as client:
        out = [client.post("/opted-out", json={}, headers=key("k")).json()["id"] for _ in "ab"]
        put = [client.put("/things/3", json={}, headers=key("k-put")).json() for _ in "ab"]
        patch = [client.patch("/things/3", json={}, headers=key("k-patch")) for _ in "ab"]
        deleted = [client.delete("/things/3", headers=key("k-del")).status_code for _ in "ab"]
        listed = [client.get("/orders", headers=key("k-get")).status_code for _ in "ab"]
    assert out == [1, 2]
    assert put == [{"thing": 3, "version": 1}] * 2  # PUT opted in: replayed
    assert patch[1].headers["idempotent-replayed"] == "true"  # PATCH: covered by default
    assert deleted == [200, 200] and listed == [200, 200]
    assert views.executions == {
        "create_order": 2,
        "put_thing": 1,
        "patch_thing": 1,
        "delete_thing": 2,  # DELETE is not in the methods setting
        "list_orders": 2,
    }


def test_the_methods_and_header_settings(make_app: AppMaker, store: StoreSettings) -> None:
    settings = store(methods="DELETE", header="X-Request-Key", replay_header="")
    with make_app(settings).test_client() as client:
        deleted = [client.delete("/things/3", headers={"X-Request-Key": "d"}) for _ in "ab"]
        posted = [client.post("/orders", json={"item": "a"}, headers=key("k")) for _ in "ab"]
    assert "idempotent-replayed" not in deleted[1].headers
    assert views.executions == {"delete_thing": 1, "create_order": 2}
    assert [response.status_code for response in posted] == [201, 201]
