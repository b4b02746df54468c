"""With auth (principal isolation), the envelope, the optimizer (compression, ETag) and
metrics on."""

from __future__ import annotations

import gzip
import json
from typing import Any

import chassis_auth
import chassis_metrics
import chassis_optimizer
import idempotency_views as views
from idempotency_support import AppMaker, StoreSettings, key, same_response


def test_one_client_s_key_never_replays_another_s_response(
    make_app: AppMaker, store: StoreSettings, auth_issuer: Any
) -> None:
    app = make_app(store(), settings=auth_issuer.settings(), plugins={"auth": chassis_auth})
    alice = auth_issuer.auth_header(subject="alice")
    bob = auth_issuer.auth_header(subject="bob")
    alice_later = auth_issuer.auth_header(subject="alice")  # a new token, the same subject
    body = {"item": "a"}
    with app.test_client() as client:
        for_alice = client.post("/secure-orders", json=body, headers={**alice, **key("k-1")})
        for_bob = client.post("/secure-orders", json=body, headers={**bob, **key("k-1")})
        alice_again = client.post(
            "/secure-orders", json=body, headers={**alice_later, **key("k-1")}
        )
        nobody = client.post("/secure-orders", json=body, headers=key("k-1"))
    assert (for_alice.json()["id"], for_bob.json()["id"]) == (1, 2)
    assert "idempotent-replayed" not in for_bob.headers
    assert same_response(for_alice, alice_again)
    assert alice_again.headers["idempotent-replayed"] == "true"
    # Security refuses before the key is looked at: no replay without credentials.
    assert nobody.status_code == 401
    assert views.executions == {"create_order": 2}


def _everything(make_app: AppMaker, store: StoreSettings, auth_issuer: Any) -> Any:
    return make_app(
        store(),
        settings={**auth_issuer.settings(), "envelope": {"enabled": True}},
        plugins={
            "metrics": chassis_metrics,
            "optimizer": chassis_optimizer,
            "auth": chassis_auth,
        },
    )


def test_with_the_envelope_the_replay_is_the_first_body_byte_for_byte(
    make_app: AppMaker, store: StoreSettings, auth_issuer: Any
) -> None:
    app = _everything(make_app, store, auth_issuer)
    headers = {**auth_issuer.auth_header(subject="alice"), **key("k-1")}
    with app.test_client() as client:
        first = client.post("/secure-orders", json={"item": "a"}, headers=headers)
        again = client.post("/secure-orders", json={"item": "a"}, headers=headers)
    assert first.status_code == 201
    envelope = first.json()
    assert envelope["data"]["id"] == 1
    assert envelope["meta"]["request_id"] == first.headers["x-request-id"]
    # The stored body keeps the first request's id; the header is the retry's own.
    assert again.content == first.content
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert views.executions == {"create_order": 1}


def test_with_the_optimizer_replays_are_compressed_for_each_retry(
    make_app: AppMaker, store: StoreSettings, auth_issuer: Any
) -> None:
    app = _everything(make_app, store, auth_issuer)
    headers = {**auth_issuer.auth_header(subject="alice"), **key("k-1")}
    body = {"item": "a", "size": 4000}
    with app.test_client() as client:
        first = client.post(
            "/secure-orders", json=body, headers={**headers, "Accept-Encoding": "gzip"}
        )
        plain = client.post(
            "/secure-orders", json=body, headers={**headers, "Accept-Encoding": "identity"}
        )
        zipped = client.send(
            client.build_request(
                "POST",
                "/secure-orders",
                json=body,
                headers={**headers, "Accept-Encoding": "gzip"},
            ),
            stream=True,
        )
        raw = b"".join(zipped.iter_raw())
        metrics = client.get("/metrics").text
    assert first.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert plain.headers["idempotent-replayed"] == "true"
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["idempotent-replayed"] == "true"
    assert json.loads(gzip.decompress(raw)) == first.json() == plain.json()
    assert first.json()["data"]["padding"] == "x" * 4000
    assert views.executions == {"create_order": 1}
    assert (
        'chassis_idempotency_requests_total{outcome="executed",route="/secure-orders"} 1.0'
        in metrics
    )
    assert (
        'chassis_idempotency_requests_total{outcome="replayed",route="/secure-orders"} 2.0'
        in metrics
    )


def test_the_replay_header_is_exposed_to_browsers(make_app: AppMaker, store: StoreSettings) -> None:
    settings = {"cors": {"enabled": True, "allow_origins": ["https://app.example"]}}
    app = make_app(store(), settings=settings)
    with app.test_client() as client:
        client.post("/orders", json={"item": "a"}, headers=key("k-1"))
        again = client.post(
            "/orders", json={"item": "a"}, headers={**key("k-1"), "Origin": "https://app.example"}
        )
    exposed = [
        name.strip().lower() for name in again.headers["access-control-expose-headers"].split(",")
    ]
    assert "idempotent-replayed" in exposed
