"""The test app's OpenAPI document."""

from __future__ import annotations

from typing import Any

OK = {"200": {"description": "The downstream's status and body."}}
PATH = {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
KEY = {"name": "key", "in": "query", "required": False, "schema": {"type": "string"}}


def _op(operation_id: str, *parameters: Any) -> dict[str, Any]:
    return {
        "operationId": f"client_views.{operation_id}",
        "parameters": list(parameters),
        "responses": OK,
    }


SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "client tests", "version": "1"},
    "paths": {
        "/sync/{path}": {"get": _op("sync_get", PATH)},
        "/async/{path}": {"get": _op("async_get", PATH)},
        "/sync-post": {"post": _op("sync_post", KEY)},
        "/async-post": {"post": _op("async_post", KEY)},
    },
}
