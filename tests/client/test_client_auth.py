"""How calls authenticate: a static token, or OAuth2 client credentials with a cached token."""

from __future__ import annotations

import pytest

KINDS = ["sync", "async"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_static_token_and_extra_headers_are_sent(client_app, downstream, kind):
    app = client_app(auth={"token": "s3cret"}, headers={"X-Api-Version": "2"})
    with app.test_client() as client:
        client.get(f"/{kind}/items")
        ready = client.get("/readyz").text
    seen = downstream.seen[0].headers
    assert seen["authorization"] == "Bearer s3cret"
    assert seen["x-api-version"] == "2"
    assert "s3cret" not in ready


@pytest.mark.parametrize("kind", KINDS)
def test_client_credentials_fetch_one_token_and_reuse_it(client_app, downstream, kind):
    app = client_app(
        auth={
            "client_id": "directmail",
            "client_secret": "pw",
            "token_url": downstream.url + "/token",
        }
    )
    with app.test_client() as client:
        for _ in range(3):
            assert client.get(f"/{kind}/items").json()["status"] == 200
    assert downstream.token_fetches == 1
    assert {s.headers["authorization"] for s in downstream.seen} == {"Bearer token-1"}


@pytest.mark.parametrize("kind", KINDS)
def test_the_token_endpoint_is_discovered_from_the_issuer(client_app, downstream, kind):
    app = client_app(
        auth={"client_id": "directmail", "client_secret": "pw", "issuer": downstream.url}
    )
    with app.test_client() as client:
        assert client.get(f"/{kind}/items").json()["status"] == 200
    assert downstream.seen[0].headers["authorization"] == "Bearer token-1"


@pytest.mark.parametrize("kind", KINDS)
def test_a_401_fetches_a_new_token_once(client_app, downstream, kind):
    # /protected refuses token-1 (as if revoked) and accepts token-2.
    app = client_app(
        auth={
            "client_id": "directmail",
            "client_secret": "pw",
            "token_url": downstream.url + "/token",
        }
    )
    with app.test_client() as client:
        response = client.get(f"/{kind}/protected")
    assert response.json()["status"] == 200
    assert downstream.token_fetches == 2
    assert [s.headers["authorization"] for s in downstream.seen] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_an_expiring_token_is_renewed_before_it_expires(client_app, downstream):
    downstream.token_lifetime = 1  # renewed after half its life at most
    app = client_app(
        auth={
            "client_id": "directmail",
            "client_secret": "pw",
            "token_url": downstream.url + "/token",
        }
    )
    import time

    with app.test_client() as client:
        client.get("/sync/items")
        time.sleep(0.6)
        client.get("/sync/items")
    assert downstream.token_fetches == 2


def test_a_static_token_can_go_in_an_api_key_header(client_app, downstream):
    app = client_app(auth={"token": "k-123", "header": "X-Api-Key"})
    with app.test_client() as client:
        client.get("/sync/items")
    seen = downstream.seen[0].headers
    assert seen["x-api-key"] == "k-123"
    assert "authorization" not in seen


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreachable_token_endpoint_is_a_502_naming_the_service(client_app, downstream, kind):
    from client_support import closed_port_url

    app = client_app(
        auth={"client_id": "directmail", "client_secret": "pw", "token_url": closed_port_url()}
    )
    with app.test_client() as client:
        response = client.get(f"/{kind}/items")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["service"] == "down"
    assert downstream.count() == 0
