"""The spec, handlers and scraping helpers the metrics tests share."""

from __future__ import annotations

import threading
from typing import Any

import chassis_metrics
from connexion.exceptions import Forbidden
from prometheus_client.parser import text_string_to_metric_families

# -- handlers (operationIds point here) --------------------------------------------------

release = threading.Event()
entered = threading.Event()


def get_item(item_id: int) -> dict[str, Any]:
    return {"id": item_id}


def list_items(limit: int = 10) -> list[dict[str, Any]]:
    return [{"id": n} for n in range(limit)]


def create_item(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return body, 201


def boom() -> None:
    raise RuntimeError("kaboom")


def forbidden() -> None:
    raise Forbidden(detail="not yours")


def secure() -> dict[str, Any]:
    return {"ok": True}


def admin() -> dict[str, Any]:
    return {"ok": True}


def slow() -> dict[str, Any]:
    entered.set()
    release.wait(10)
    return {"ok": True}


def decorated() -> dict[str, Any]:
    """Replaced by a test with a version wrapped in prometheus-flask-exporter decorators."""
    return {"plain": True}


def bearer_info(token: str) -> dict[str, Any] | None:
    return {"sub": "alice", "scope": []} if token == "good" else None


def token_info(token: str) -> dict[str, Any] | None:
    return {"sub": "bob", "scope": ["read"]} if token == "reader" else None


# -- the spec ----------------------------------------------------------------------------

_OK = {"200": {"description": "ok"}}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "metrics tests", "version": "1"},
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "x-bearerInfoFunc": "metrics_support.bearer_info",
            },
            "oauth": {
                "type": "oauth2",
                "x-tokenInfoFunc": "metrics_support.token_info",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "https://auth.example/token",
                        "scopes": {"read": "read", "admin": "admin"},
                    }
                },
            },
        }
    },
    "paths": {
        "/items": {
            "get": {
                "operationId": "metrics_support.list_items",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    }
                ],
                "responses": _OK,
            },
            "post": {
                "operationId": "metrics_support.create_item",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/items/{item_id}": {
            "get": {
                "operationId": "metrics_support.get_item",
                "parameters": [
                    {
                        "name": "item_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "responses": _OK,
            }
        },
        "/boom": {"get": {"operationId": "metrics_support.boom", "responses": _OK}},
        "/forbidden": {"get": {"operationId": "metrics_support.forbidden", "responses": _OK}},
        "/secure": {
            "get": {
                "operationId": "metrics_support.secure",
                "security": [{"bearer": []}],
                "responses": _OK,
            }
        },
        "/admin": {
            "get": {
                "operationId": "metrics_support.admin",
                "security": [{"oauth": ["admin"]}],
                "responses": _OK,
            }
        },
        "/slow": {"get": {"operationId": "metrics_support.slow", "responses": _OK}},
        "/decorated": {"get": {"operationId": "metrics_support.decorated", "responses": _OK}},
    },
}

PLUGINS = {"metrics": chassis_metrics}

# -- scraping ----------------------------------------------------------------------------


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``{sample name: [(labels, value), ...]}`` from an exposition, through prometheus_client's
    own parser (so the output is valid text format)."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def families(text: str) -> dict[str, str]:
    """``{family name: type}`` of an exposition."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def scrape(client: Any, path: str = "/metrics") -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return parse(response.text)


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(
        found
        for sample_labels, found in samples.get(name, [])
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    )


def series(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str
) -> list[dict[str, str]]:
    return [labels for labels, _ in samples.get(name, [])]
