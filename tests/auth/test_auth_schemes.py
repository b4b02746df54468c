"""bearer, oauth2, openIdConnect and apiKey schemes resolve to the plugin: no x-*InfoFunc."""

from __future__ import annotations

from typing import Any

import pytest
from chassis_auth.testing import LocalIssuer

PROBLEM = "application/problem+json"


def test_auth_oauth2_scope_granted(client: Any, auth_issuer: LocalIssuer) -> None:
    response = client.get("/scoped", headers=auth_issuer.auth_header(["items:read", "other"]))

    assert response.status_code == 200
    assert response.json()["user"] == "test-user"


def test_auth_missing_scope_is_403(
    client: Any, auth_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/scoped", headers=auth_issuer.auth_header(["items:write"]))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == (
        'Bearer realm="chassis-service", error="insufficient_scope", scope="items:read"'
    )
    body = response.json()
    assert body["detail"] == "The credentials do not grant a scope this operation requires."
    assert "items:write" not in response.text  # the token's own scopes are not echoed
    assert [r.auth_reason for r in caplog.records if hasattr(r, "auth_reason")] == [
        "insufficient_scope"
    ]


def test_auth_token_without_any_scope_is_403(client: Any, auth_issuer: LocalIssuer) -> None:
    assert client.get("/scoped", headers=auth_issuer.auth_header()).status_code == 403


def test_auth_openid_connect_scheme(client: Any, auth_issuer: LocalIssuer) -> None:
    ok = client.get("/oidc", headers=auth_issuer.auth_header(["items:write"]))
    refused = client.get("/oidc", headers=auth_issuer.auth_header(["items:read"]))
    invalid = client.get("/oidc", headers={"Authorization": "Bearer nope"})

    assert (ok.status_code, refused.status_code, invalid.status_code) == (200, 403, 401)


def test_auth_scopes_from_scp_claim_as_list(client: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(scp=["items:read"])  # Azure AD's claim, as a list

    response = client.get("/scoped", headers=headers)

    assert response.status_code == 200
    assert response.json()["scopes"] == ["items:read"]


def test_auth_roles_claim_is_configurable(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(realm_access={"roles": ["editor", "viewer"]})

    with auth_app(roles_claim="realm_access.roles").test_client() as client:
        response = client.get("/bearer", headers=headers)

    assert response.json()["roles"] == ["editor", "viewer"]


def test_auth_roles_can_grant_scopes(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(roles=["items:read"])

    with auth_app().test_client() as client:
        assert client.get("/scoped", headers=headers).status_code == 403
    with auth_app(roles_as_scopes=True).test_client() as client:
        assert client.get("/scoped", headers=headers).status_code == 200


def test_auth_scope_claims_are_configurable(auth_app: Any, auth_issuer: LocalIssuer) -> None:
    headers = auth_issuer.auth_header(permissions=["items:read"])  # Auth0's RBAC claim

    with auth_app(scope_claims=["permissions"]).test_client() as client:
        assert client.get("/scoped", headers=headers).status_code == 200


def test_auth_alternative_schemes(client: Any, auth_issuer: LocalIssuer) -> None:
    """security: [oauth: [items:read]] OR [api key]; none given is 401, a bad token is 401,
    a token without the scope is 403 (the most specific of the alternatives' errors)."""
    assert client.get("/either", headers=auth_issuer.auth_header(["items:read"])).status_code == 200
    assert client.get("/either").status_code == 401
    assert client.get("/either", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    assert client.get("/either", headers=auth_issuer.auth_header()).status_code == 403


def test_auth_spec_function_wins_over_the_plugin(client: Any, auth_issuer: LocalIssuer) -> None:
    """A scheme naming its own x-bearerInfoFunc keeps Connexion's behaviour."""
    ok = client.get("/custom", headers={"Authorization": "Bearer let-me-in"})
    jwt = client.get("/custom", headers=auth_issuer.auth_header())

    assert ok.status_code == 200
    assert ok.json()["user"] == "custom-user"
    assert jwt.status_code == 401  # the function returned None: Connexion's 401, our headers
    assert jwt.headers["www-authenticate"] == (
        'Bearer realm="chassis-service", error="invalid_token"'
    )
    assert jwt.headers["content-type"] == PROBLEM


def test_auth_spec_api_key_function_challenges_for_an_api_key(client: Any) -> None:
    """A scheme with its own x-apikeyInfoFunc: Connexion checks the key, and a request
    without one is challenged for an API key, as with the plugin's own apiKey schemes."""
    ok = client.get("/custom-key", headers={"X-Custom-Key": "open-sesame"})
    missing = client.get("/custom-key")
    custom_bearer_missing = client.get("/custom")

    assert ok.json()["user"] == "custom-key-user"
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'ApiKey realm="chassis-service"'
    assert custom_bearer_missing.headers["www-authenticate"] == 'Bearer realm="chassis-service"'


def test_auth_a_security_map_given_to_add_api_wins(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    import chassis_auth
    from auth_spec import SPEC
    from connexion.security import BearerSecurityHandler

    class Everyone(BearerSecurityHandler):
        def get_fn(self, security_scheme: Any, required_scopes: Any) -> Any:
            return lambda request: {"sub": "anyone"}

    app = make_chassis_app(
        spec=SPEC,
        settings=auth_issuer.settings(),
        plugins=[chassis_auth],
        api_options={"security_map": {"bearer": Everyone}},
    )
    with app.test_client() as client:
        assert client.get("/bearer").json()["user"] == "anyone"


def test_auth_security_map_reaches_every_api(
    make_chassis_app: Any, auth_issuer: LocalIssuer
) -> None:
    """Many APIs on one app: the app-wide security_map reaches each of them."""
    import chassis_auth
    from auth_spec import SPEC

    app = make_chassis_app(spec=SPEC, settings=auth_issuer.settings(), plugins=[chassis_auth])
    app.add_api(SPEC, base_path="/v2", name="v2")
    with app.test_client() as client:
        assert client.get("/v2/bearer", headers=auth_issuer.auth_header()).status_code == 200
        assert client.get("/v2/bearer").status_code == 401
