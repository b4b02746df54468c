"""Only operations that opt in are paginated by the plugin: the ``x-chassis-pagination``
extension, or one of the package's parameter components. Other operations' own ``offset``,
``limit`` and ``cursor`` parameters are Connexion's to validate and reach their handlers as
they are."""

from __future__ import annotations

import logging
from typing import Any

import chassis_pagination
import pytest
from chassis_pagination import paginate, with_components
from connexion.resolver import Resolver
from pagination_support import links

NUMBERS = list(range(1, 101))


def echo(**params: Any) -> Any:
    return {"received": params}


def numbers(**_: Any) -> Any:
    return paginate(NUMBERS)


HANDLERS = {"echo": echo, "numbers": numbers}
RESOLVER = Resolver(function_resolver=lambda operation_id: HANDLERS[operation_id.split("_")[0]])

OWN_LIMIT = {
    "name": "limit",
    "in": "query",
    "schema": {"type": "integer", "minimum": 1, "maximum": 5},
}
OWN_OFFSET = {  # a UTC offset in minutes, not a page position: negative is fine
    "name": "offset",
    "in": "query",
    "schema": {"type": "integer", "minimum": -720, "maximum": 840},
}
OWN_CURSOR = {"name": "cursor", "in": "query", "schema": {"type": "string"}}  # a change feed's
OWN_PAGE = [
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
]
COMPONENTS = [
    {"$ref": "#/components/parameters/offset"},
    {"$ref": "#/components/parameters/limit"},
]


def _get(operation_id: str, parameters: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "parameters": parameters,
            "responses": {"200": {"description": "ok"}},
            **extra,
        }
    }


SPEC = with_components(
    {
        "openapi": "3.0.3",
        "info": {"title": "opt-in", "version": "1"},
        "paths": {
            "/own-limit": _get("echo_limit", [OWN_LIMIT]),
            "/own-offset": _get("echo_offset", [OWN_OFFSET]),
            "/own-cursor": _get("echo_cursor", [OWN_CURSOR]),
            "/components": _get("numbers_components", COMPONENTS),
            "/extension": _get("numbers_extension", OWN_PAGE, **{"x-chassis-pagination": {}}),
        },
    }
)
SHORTHANDS = {  # x-chassis-pagination: true / false
    "/extension-true": _get("numbers_true", OWN_PAGE, **{"x-chassis-pagination": True}),
    "/opted-out": _get("echo_out", COMPONENTS, **{"x-chassis-pagination": False}),
}


def _client(make_chassis_app: Any, spec: dict[str, Any]) -> Any:
    app = make_chassis_app(
        spec=spec, plugins={"pagination": chassis_pagination}, api_options={"resolver": RESOLVER}
    )
    return app.test_client()


@pytest.fixture
def client(make_chassis_app: Any, caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING, logger="chassis.pagination")
    with _client(make_chassis_app, SPEC) as test_client:
        yield test_client


@pytest.fixture
def shorthand_client(make_chassis_app: Any) -> Any:
    spec = {**SPEC, "paths": {**SPEC["paths"], **SHORTHANDS}}
    with _client(make_chassis_app, spec) as test_client:
        yield test_client


def _is_the_plugins(response: Any) -> bool:
    # The plugin's reasons say what a value must be; Connexion's (jsonschema's) say what it is.
    reasons = [item["reason"] for item in response.json().get("invalid-params", [])]
    return any(reason.startswith("must") for reason in reasons)


def test_an_operations_own_limit_keeps_connexions_validation(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/own-limit?limit=3").json() == {"received": {"limit": 3}}
    for raw in ("50", "500", "0", "abc"):
        response = client.get(f"/own-limit?limit={raw}")
        assert response.status_code == 400, raw
        assert response.headers["content-type"] == "application/problem+json"
        assert not _is_the_plugins(response), response.json()
    detail = client.get("/own-limit?limit=500").json()["detail"]
    assert "500 is greater than the maximum of 5" in detail
    assert client.get("/own-limit").json() == {"received": {}}
    # No start-up warning about a maximum the plugin does not enforce there.
    assert "declares limit maximum" not in caplog.text


def test_an_operations_own_offset_reaches_the_handler_untouched(client: Any) -> None:
    response = client.get("/own-offset?offset=-300")
    assert response.status_code == 200, response.text
    assert response.json() == {"received": {"offset": -300}}
    assert "link" not in response.headers
    too_far = client.get("/own-offset?offset=900")
    assert too_far.status_code == 400
    assert not _is_the_plugins(too_far)


def test_an_operations_own_cursor_reaches_the_handler_untouched(client: Any) -> None:
    response = client.get("/own-cursor?cursor=feed-42")
    assert response.status_code == 200, response.text
    assert response.json() == {"received": {"cursor": "feed-42"}}


def test_the_components_opt_in(client: Any) -> None:
    response = client.get("/components?offset=10&limit=2")
    assert response.json() == [11, 12]
    assert links(response)["next"] == "http://testserver/components?offset=12&limit=2"
    refused = client.get("/components?limit=500")
    assert refused.json()["detail"] == "query parameter 'limit' must be at most 100 (got '500')"


def test_the_extension_opts_in_parameters_of_the_operations_own(client: Any) -> None:
    _paginated_by_the_plugin(client, "/extension")


def test_the_extension_set_true_opts_in(shorthand_client: Any) -> None:
    _paginated_by_the_plugin(shorthand_client, "/extension-true")


def _paginated_by_the_plugin(client: Any, path: str) -> None:
    response = client.get(f"{path}?offset=98")
    assert response.json() == [99, 100]
    assert "prev" in links(response)
    refused = client.get(f"{path}?limit=500")
    assert refused.status_code == 400
    assert refused.json()["detail"] == "query parameter 'limit' must be at most 100 (got '500')"
    assert refused.json()["invalid-params"] == [
        {"name": "limit", "in": "query", "reason": "must be at most 100"}
    ]


def test_the_extension_set_false_opts_out(shorthand_client: Any) -> None:
    received = shorthand_client.get("/opted-out?limit=7").json()
    assert received == {"received": {"offset": 0, "limit": 7}}  # offset: the default, 0
    refused = shorthand_client.get("/opted-out?limit=500")
    assert refused.status_code == 400
    assert not _is_the_plugins(refused)
