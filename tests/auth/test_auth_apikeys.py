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


def test_auth_no_api_key_is_401(key_client: Any) -> None:
    response = key_client.get("/apikey")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="chassis-service"'


def test_auth_api_key_alternative_to_bearer(key_client: Any, auth_issuer: LocalIssuer) -> None:
    assert key_client.get("/either", headers={"X-API-Key": KEYS[0]}).status_code == 200
    assert key_client.get("/either", headers={"X-API-Key": "nope"}).status_code == 401


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
