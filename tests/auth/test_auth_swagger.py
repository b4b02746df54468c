"""Swagger UI's Authorize button against the plugin's issuer (connexion issue 968): what the
UI receives, the page, its config and the spec it loads."""

from __future__ import annotations

import json
import re
from typing import Any

import chassis
import chassis_auth
import pytest
from auth_spec import SPEC
from connexion.options import SwaggerUIOptions


@pytest.fixture
def chassis_app_class(app_class: Any) -> Any:
    return app_class


def _init_oauth(html: str) -> dict[str, Any]:
    """The argument of ``ui.initOAuth(...)`` in the page Swagger UI starts from."""
    found = re.search(r"ui\.initOAuth\(\s*(\{.*?\})\s*\)", html, re.S)
    assert found, "the page does not call ui.initOAuth"
    result: dict[str, Any] = json.loads(found.group(1))
    return result


def test_the_page_starts_swagger_ui_with_the_client_and_pkce(
    auth_app: Any, auth_issuer: Any
) -> None:
    app = auth_app(swagger_client_id="directmail-docs", swagger_scopes="openid,items:read")
    with app.test_client() as client:
        page = client.get("/ui/")
        config = client.get("/ui/swagger-ui-config.json")
        # Swagger UI's default redirect URL: its own page, served beside it.
        redirect = client.get("/ui/oauth2-redirect.html")
    assert page.status_code == 200
    assert redirect.status_code == 200
    assert "oauth2" in redirect.text
    assert _init_oauth(page.text) == {
        "clientId": "directmail-docs",
        "scopes": "openid items:read",
        "usePkceWithAuthorizationCodeGrant": True,
        "appName": "chassis-service",
    }
    assert 'configUrl: "swagger-ui-config.json"' in page.text
    assert config.status_code == 200
    assert config.json() == {"usePkceWithAuthorizationCodeGrant": True}


def test_the_spec_points_oauth_at_the_issuer(auth_app: Any, auth_issuer: Any) -> None:
    app = auth_app(swagger_client_id="directmail-docs")
    with app.test_client() as client:
        spec = client.get("/openapi.json").json()
        yaml_spec = client.get("/openapi.yaml").text
    schemes = spec["components"]["securitySchemes"]
    flows = schemes["oauth"]["flows"]
    assert flows["authorizationCode"] == {
        "authorizationUrl": f"{auth_issuer.issuer}/authorize",
        "tokenUrl": f"{auth_issuer.issuer}/token",
        "scopes": {"items:read": "read items", "items:write": "write items"},
    }
    assert flows["clientCredentials"]["tokenUrl"] == "https://login.example.com/token"
    assert schemes["oidc"]["openIdConnectUrl"] == auth_issuer.discovery_url
    assert f"{auth_issuer.issuer}/authorize" in yaml_spec


def test_tokens_from_the_issuer_still_work(auth_app: Any, auth_issuer: Any) -> None:
    app = auth_app(swagger_client_id="directmail-docs")
    with app.test_client() as client:
        response = client.get("/scoped", headers=auth_issuer.auth_header(["items:read"]))
        refused = client.get("/scoped")
    assert response.status_code == 200
    assert refused.status_code == 401


def test_explicit_endpoints_and_redirect_url(auth_app: Any, auth_issuer: Any, caplog: Any) -> None:
    caplog.set_level("INFO", logger="chassis.auth")
    app = auth_app(
        swagger_client_id="docs",
        swagger_authorization_url="https://login.example.com/oauth2/authorize",
        swagger_token_url="https://login.example.com/oauth2/token",
        swagger_redirect_url="https://api.example.com/ui/oauth2-redirect.html",
    )
    with app.test_client() as client:
        spec = client.get("/openapi.json").json()
        config = client.get("/ui/swagger-ui-config.json").json()
    flow = spec["components"]["securitySchemes"]["oauth"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == "https://login.example.com/oauth2/authorize"
    assert flow["tokenUrl"] == "https://login.example.com/oauth2/token"
    assert config["oauth2RedirectUrl"] == "https://api.example.com/ui/oauth2-redirect.html"
    assert any(
        "Swagger UI signs in at https://login.example.com/oauth2/authorize (client docs, PKCE)"
        in record.getMessage()
        for record in caplog.records
    )


def test_an_api_with_its_own_swagger_ui_options_keeps_them(
    make_chassis_app: Any, auth_issuer: Any
) -> None:
    options = SwaggerUIOptions(
        swagger_ui_template_arguments={"initOAuth": {"appName": "Directmail API"}},
        swagger_ui_config={"docExpansion": "none"},
    )
    app = make_chassis_app(
        spec=SPEC,
        settings=auth_issuer.settings(swagger_client_id="docs"),
        plugins=[chassis_auth],
        api_options={"swagger_ui_options": options},
    )
    with app.test_client() as client:
        page = client.get("/ui/").text
        config = client.get("/ui/swagger-ui-config.json").json()
    init = _init_oauth(page)
    assert init["clientId"] == "docs"
    assert init["appName"] == "Directmail API"
    assert init["usePkceWithAuthorizationCodeGrant"] is True
    assert config == {"docExpansion": "none", "usePkceWithAuthorizationCodeGrant": True}


def test_without_a_client_id_swagger_ui_is_unchanged(auth_app: Any, auth_issuer: Any) -> None:
    app = auth_app()
    with app.test_client() as client:
        page = client.get("/ui/").text
        spec = client.get("/openapi.json").json()
        config = client.get("/ui/swagger-ui-config.json")
    assert "initOAuth" not in page
    assert config.status_code == 404
    assert "authorizationCode" not in spec["components"]["securitySchemes"]["oauth"]["flows"]


def test_an_unreachable_discovery_document_says_what_to_set(
    auth_app: Any, auth_issuer: Any, caplog: Any
) -> None:
    auth_issuer.available = False
    app = auth_app(swagger_client_id="docs")
    with app.test_client() as client:
        page = client.get("/ui/").text
        spec = client.get("/openapi.json").json()
    assert _init_oauth(page)["clientId"] == "docs"
    assert "authorizationCode" not in spec["components"]["securitySchemes"]["oauth"]["flows"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "chassis.auth"]
    assert any(
        "Swagger UI's Authorize button keeps the specs' own OAuth URLs" in message
        and "answered 503" in message
        and "CHASSIS_AUTH__SWAGGER_AUTHORIZATION_URL" in message
        for message in warnings
    )


def test_a_client_id_with_nowhere_to_sign_in_is_a_start_up_error(make_chassis_app: Any) -> None:
    with pytest.raises(chassis.SettingsError) as caught:
        make_chassis_app(
            spec=SPEC, settings={"auth": {"swagger_client_id": "docs"}}, plugins=[chassis_auth]
        )
    message = str(caught.value)
    assert "CHASSIS_AUTH__SWAGGER_CLIENT_ID" in message
    assert "CHASSIS_AUTH__ISSUER" in message
