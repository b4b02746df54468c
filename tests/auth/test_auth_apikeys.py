"""apiKey schemes: keys from settings (secrets), compared in constant time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from chassis_auth.testing import LocalIssuer

KEYS = ["first-key-0123456789", "second-key-abcdefghij"]


@pytest.fixture
def key_client(auth_app: Any) -> Any:
    with auth_app(api_keys=KEYS).test_client() as client:
        yield client


def test_auth_api_key_in_header(key_client: Any) -> None:
    response = key_client.get("/apikey", headers={"X-API-Key": KEYS[1]})

    assert response.status_code == 200
    assert response.json()["user"] == "api-key-2"  # which key, never the key itself
    assert response.json()["context_user"] == "api-key-2"


def test_auth_api_key_in_query_and_cookie(key_client: Any) -> None:
    assert key_client.get("/apikey-query", params={"api_key": KEYS[0]}).status_code == 200
    key_client.cookies.set("session_key", KEYS[0])
    assert key_client.get("/apikey-cookie").status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "wrong",
        KEYS[0][:-1],  # a prefix
        KEYS[0] + "x",  # an extension
        KEYS[0].upper(),
        "x" * 20_000,  # oversized
    ],
)
def test_auth_wrong_api_key_is_401(
    key_client: Any, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    response = key_client.get("/apikey", headers={"X-API-Key": key})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'ApiKey realm="chassis-service"'
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The API key is not valid."
    reasons = [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")]
    assert reasons in (["invalid_api_key"], ["oversized"])


@pytest.mark.parametrize("path", ["/apikey", "/apikey-query", "/apikey-cookie"])
def test_auth_no_api_key_is_401_with_an_api_key_challenge(key_client: Any, path: str) -> None:
    """An operation that takes only an API key does not invite a bearer token."""
    response = key_client.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'ApiKey realm="chassis-service"'
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No credentials were provided."


def test_auth_no_credentials_for_either_scheme_challenges_both(key_client: Any) -> None:
    response = key_client.get("/either")  # security: [oauth: [items:read]] OR [api key]

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="chassis-service", ApiKey realm="chassis-service"'
    )


def test_auth_api_key_alternative_to_bearer(key_client: Any, auth_issuer: LocalIssuer) -> None:
    assert key_client.get("/either", headers={"X-API-Key": KEYS[0]}).status_code == 200
    assert key_client.get("/either", headers={"X-API-Key": "nope"}).status_code == 401


def test_auth_any_alternative_that_succeeds_wins(key_client: Any, auth_issuer: LocalIssuer) -> None:
    """OpenAPI's security alternatives are an OR: each is tried in the order listed, the
    first that accepts the request decides who the user is; a failing one does not stop a
    later one from succeeding. Only when none succeeds is the request refused, with the
    most specific error (403 over 401)."""
    good_key = {"X-API-Key": KEYS[0]}
    bad_token = {"Authorization": "Bearer x.y.z"}
    unscoped = auth_issuer.auth_header()  # valid, but without items:read
    scoped = auth_issuer.auth_header(["items:read"])

    def get(*headers: dict[str, str]) -> Any:
        return key_client.get("/either", headers={k: v for h in headers for k, v in h.items()})

    assert get(bad_token, good_key).json()["user"] == "api-key-1"
    assert get(unscoped, good_key).json()["user"] == "api-key-1"
    assert get(scoped, good_key).json()["user"] == "test-user"  # oauth is listed first
    assert get(unscoped).status_code == 403
    refused = get(bad_token)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    both_bad = get(bad_token, {"X-API-Key": "nope"})
    assert both_bad.status_code == 401  # Connexion raises the last alternative's refusal
    assert both_bad.headers["www-authenticate"] == 'ApiKey realm="chassis-service"'


def test_auth_api_keys_from_the_environment_are_secret(
    make_chassis_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chassis_auth
    from auth_spec import SPEC

    monkeypatch.setenv("CHASSIS_AUTH__API_KEYS", ",".join(KEYS))
    app = make_chassis_app(spec=SPEC, plugins=[chassis_auth])

    assert [key.get_secret_value() for key in app.settings.auth.api_keys] == KEYS
    dumped = json.dumps(app.settings.model_dump(mode="json"))
    assert KEYS[0] not in dumped and KEYS[1] not in dumped
    assert KEYS[0] not in repr(app.settings)
    with app.test_client() as client:
        assert client.get("/apikey", headers={"X-API-Key": KEYS[0]}).status_code == 200


def test_auth_api_key_scheme_without_keys_is_503(make_chassis_app: Any) -> None:
    """An apiKey scheme but no keys configured: the server's fault, not the client's."""
    import chassis_auth
    from auth_spec import SPEC

    app = make_chassis_app(spec=SPEC, plugins=[chassis_auth])
    with app.test_client() as client:
        response = client.get("/apikey", headers={"X-API-Key": "anything"})

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
