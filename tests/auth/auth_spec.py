"""The OpenAPI document of the auth tests: every kind of security scheme.

(A module of its own, uniquely named: ``conftest`` is a different module in each test folder.)
"""

from __future__ import annotations

from typing import Any

OK = {"200": {"description": "ok"}}


def _op(operation_id: str, security: list[dict[str, list[str]]] | None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"auth_views.{operation_id}", "responses": OK}
    if security is not None:
        op["security"] = security
    return op


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "auth tests", "version": "1"},
    "paths": {
        "/open": {"get": _op("open_route", [])},
        "/bearer": {"get": _op("bearer", None)},  # the document's default: bearer
        "/scoped": {"get": _op("scoped", [{"oauth": ["items:read"]}])},
        "/oidc": {"get": _op("oidc", [{"oidc": ["items:write"]}])},
        "/apikey": {"get": _op("apikey", [{"key_header": []}])},
        "/apikey-query": {"get": _op("apikey_query", [{"key_query": []}])},
        "/apikey-cookie": {"get": _op("apikey_cookie", [{"key_cookie": []}])},
        "/either": {"get": _op("either", [{"oauth": ["items:read"]}, {"key_header": []}])},
        "/custom": {"get": _op("custom", [{"custom": []}])},
        "/custom-key": {"get": _op("custom_key", [{"custom_key": []}])},
        "/mutate": {"get": _op("mutate", [{"oauth": ["items:read"]}, {"key_header": []}])},
    },
    "components": {
        "securitySchemes": {
            "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://login.example.com/token",
                        "scopes": {"items:read": "read items", "items:write": "write items"},
                    }
                },
            },
            "oidc": {
                "type": "openIdConnect",
                "openIdConnectUrl": "https://login.example.com/.well-known/openid-configuration",
            },
            "key_header": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "key_query": {"type": "apiKey", "in": "query", "name": "api_key"},
            "key_cookie": {"type": "apiKey", "in": "cookie", "name": "session_key"},
            "custom_key": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Custom-Key",
                "x-apikeyInfoFunc": "auth_views.custom_key_info",
            },
            "custom": {
                "type": "http",
                "scheme": "bearer",
                "x-bearerInfoFunc": "auth_views.custom_info",
            },
        }
    },
    "security": [{"jwt": []}],
}
